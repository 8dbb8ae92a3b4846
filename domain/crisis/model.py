"""What a crisis case is made of: the intake, the teams, the outcome, the follow-up, the referral.

The trajectory is the one of seed 001 (Orientations… services sociaux généraux):
Info-Social 8-1-1 or AAOR finds a crisis (L648-650, L663-664), a mobile team
intervenes in the community (Fiche 3, L1160-1385), post-crisis follow-up
(named but left to future work, L1204-1207), and a *référence personnalisée*
until the person has reached the next service (L725-733).

Personal details never sit in these coded fields: they travel in a separate
`personal` mapping on the commands and events that carry them, next to the
opaque `subject_id`, so that an encryption layer can encrypt them per person.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from domain.disclosure.legal_bases import Condition
from domain.disclosure.model import CommunicationMode
from domain.ententes.model import Code, Frozen, ReferralChannel, ShortText, Text
from domain.hours import ServiceHours
from domain.standards.config import UrgencyLevel
from domain.values import OpaqueId

__all__ = [
    "Candidate",
    "CandidateKind",
    "CaseCode",
    "ClosureKind",
    "CrisisType",
    "EmergencyService",
    "Intake",
    "IntakeService",
    "InterventionOutcome",
    "Personal",
    "PhoneDisposition",
    "ReceivingService",
    "ReceivingServiceType",
    "ReferralChannel",
    "ReferralMeasure",
    "RequestMode",
    "RiskEstimates",
    "RiskLevel",
    "SpecificEpisode",
    "SubjectId",
    "TeamRef",
    "UrgencyLevel",
    "new_case_code",
]

_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

# Bounds on what one command carries (with the byte budget of `domain.values`): every list and
# mapping has a size a person could have typed, so a runaway partner system is refused at the edge.
MAX_PERSONAL_FIELDS = 20
MAX_TEAMS = 20
MAX_SHARED_ITEMS = 20


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


# Opaque codes only: workflow ids and search attributes carry these, never a name or a health number.
# One spelling: `c-abcdefgh23` typed by a person is case `C-ABCDEFGH23`.
CaseCode = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^C-[A-Z2-7]{10}$")]
SubjectId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{7,63}$")]
# The keys by which the record tells its own values from content (`adapters.record.sealing`: a sealed value,
# the erased marker): never a field of what a person or partner sends.
RESERVED_PERSONAL_KEYS = ("sealed", "shredded")


def _no_reserved_key(value: dict[str, str]) -> dict[str, str]:
    reserved = [k for k in RESERVED_PERSONAL_KEYS if k in value]
    if reserved:
        names = " and ".join(repr(k) for k in reserved)
        verb = "is a reserved key" if len(reserved) == 1 else "are reserved keys"
        raise ValueError(f"personal: {names} {verb} of the record's sealing; name the field otherwise")
    return value


Personal = Annotated[
    dict[Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")], Text],
    Field(max_length=MAX_PERSONAL_FIELDS),
    AfterValidator(_no_reserved_key),
]


def new_case_code() -> str:
    """A fresh opaque case code: ``C-`` and 10 random base32 characters (50 bits), never derived from the person."""
    return "C-" + "".join(secrets.choice(_BASE32) for _ in range(10))


def case_code_for(request_id: str) -> str:
    """The case code a request opening a case without one gets when it may run twice (the gateway's write
    with an Idempotency-Key, run again after its process died): the same request, the same code. From the
    request's id (random, kept with its Idempotency-Key; never from the person): ``C-`` and 10 base32 characters."""
    digest = int.from_bytes(hashlib.sha256(f"case {request_id}".encode()).digest()[:8], "big")
    return "C-" + "".join(_BASE32[(digest >> (5 * i)) & 31] for i in range(10))


class IntakeService(StrEnum):
    """Who found the crisis and opened the case (seed 001 L1169-1173, L1236-1239)."""

    INFO_SOCIAL = "info_social"
    AAOR = "aaor"
    PARTNER = "partenaire"  # a partner with an entente to that effect with the CSSS


class RequestMode(StrEnum):
    """How the request reached the service: sets the AAOR clock (2 h in person, 24 h by phone, L778-782)."""

    PHONE = "telephone"
    IN_PERSON = "en_personne"


class RiskLevel(StrEnum):
    NOT_ASSESSED = "non_evalue"
    ABSENT = "absent"
    LOW = "faible"
    MODERATE = "modere"
    HIGH = "eleve"
    ERASED = "efface"  # only the record says it: the estimate was erased with the person's key


class RiskEstimates(Frozen):
    """The three estimates of a crisis intervention (seed 001 L937-939, L1189-1191)."""

    suicide: RiskLevel = RiskLevel.NOT_ASSESSED  # risque suicidaire
    dangerousness: RiskLevel = RiskLevel.NOT_ASSESSED  # potentiel de dangerosité
    decompensation: RiskLevel = RiskLevel.NOT_ASSESSED  # risque de décompensation


class CrisisType(StrEnum):
    """A coded category, for routing to protocols (L1195-1196) and reporting; the narrative stays personal."""

    PSYCHOSOCIALE = "psychosociale"
    SUICIDAIRE = "suicidaire"
    PSYCHIATRIQUE = "psychiatrique"
    VIOLENCE_CONJUGALE = "violence_conjugale"
    AGRESSION_SEXUELLE = "agression_sexuelle"
    AUTRE = "autre"
    ERASED = "efface"  # only the record says it: the type was erased with the person's key


class Intake(Frozen):
    """The coded part of the intake; the reason in words goes in the command's `personal` mapping."""

    service: IntakeService
    request_mode: RequestMode = RequestMode.PHONE
    crisis_type: CrisisType = CrisisType.PSYCHOSOCIALE
    urgency: UrgencyLevel
    risks: RiskEstimates = Field(default_factory=RiskEstimates)
    face_to_face_needed: bool  # « une intervention dans le milieu est jugée nécessaire » (L1236-1239)
    # mesures contraignantes, Loi P-38.001 (L943-945); None: not known (erased with the person's key)
    p38_considered: bool | None = False

    # What characterises the person, sealed with their key in the `Opened` event (issue 9): beside the subject
    # id, « suicidal, high suicide risk, P-38.001 considered » is health information. The rest stays in clear
    # because the engine needs it without the key and it describes the service, not the person: `service`
    # and `request_mode` pick the clocks, `urgency` the deadlines and the standards report, and
    # `face_to_face_needed` whether a mobile team may be asked.
    CHARACTERISING: ClassVar[tuple[str, ...]] = ("crisis_type", "risks", "p38_considered")


ERASED_CHARACTERISATION: dict[str, Any] = {
    "crisis_type": CrisisType.ERASED.value,
    "risks": {"suicide": RiskLevel.ERASED.value, "dangerousness": RiskLevel.ERASED.value,
              "decompensation": RiskLevel.ERASED.value},
    "p38_considered": None,
}
"""What the intake's characterisation reads as once the person's key was destroyed."""

OUTCOME_CHARACTERISING = ("outcome", "emergency_services", "p38_applied")
"""What the outcome of an intervention says of the person (hospital emergency, crisis housing, a transport under
P-38.001, police called): health information beside the subject id, sealed with their key in `OutcomeRecorded`
(issue 9). Nothing of the engine's calendar depends on it: the stage it moves to does not."""

ERASED_OUTCOME: dict[str, Any] = {"outcome": "efface", "emergency_services": [], "p38_applied": None}
"""What the outcome reads as once the person's key was destroyed."""


class PhoneDisposition(StrEnum):
    """A case closed at the phone: a normal outcome of Info-Social and AAOR (L920-924, L715-719)."""

    INFORMATION = "information"
    ORIENTATION = "orientation"  # the person can make the steps themselves (L725-727)
    STABILISED = "crise_stabilisee"  # crisis intervention by phone was enough (L932-941)


class CandidateKind(StrEnum):
    CSSS_TEAM = "equipe_csss"
    COMMUNITY_ORG = "organisme_communautaire"  # under an entente (L1181-1184)
    SPECIFIC_PROGRAM = "programme_specifique"  # the person's active episode (L1241-1243)


class TeamRef(Frozen):
    """A team that can be asked to intervene: its own id and the organisation it belongs to."""

    team_id: Code
    org_id: Code
    name: ShortText | None = None
    hours: ServiceHours | None = None  # when a CSSS team serves (`domain.hours`); undeclared: always


class SpecificEpisode(Frozen):
    """An active service episode of the person in a specific program (épisode de service actif, L1241-1243)."""

    program: Code
    team: TeamRef


class Candidate(Frozen):
    """A team routing proposes, with what allows it: its entente, and whether information may be shared."""

    team: TeamRef
    kind: CandidateKind
    agreement_code: str | None = None  # the entente in force that lets a community organisation take it
    may_share_information: bool  # section 7 of that entente; within the CSSS, the same establishment
    program: Code | None = None  # for a specific program


class InterventionOutcome(StrEnum):
    """How the intervention in the community ended (seed 001 L1224-1232, L1322-1328)."""

    CRISIS_RESOLVED = "crise_desamorcee"
    HOSPITAL_EMERGENCY = "urgence_hospitaliere"
    CRISIS_HOUSING = "hebergement_crise"
    P38_APPLICATION = "application_p38"  # transport under art. 8 Loi P-38.001 (L1175-1179)
    ERASED = "efface"  # only the record says it: the outcome was erased with the person's key


class EmergencyService(StrEnum):
    """Liaison partners that took part (L1322-1325)."""

    POLICE = "police"
    AMBULANCE = "ambulance"
    FIRST_RESPONDERS = "premiers_repondants"


class ReceivingServiceType(StrEnum):
    """Where a référence personnalisée goes (L650-653, L1193-1195); consultations have their own standards."""

    CONSULTATION_SOCIALE = "consultation_sociale"
    CONSULTATION_PSYCHOLOGIQUE = "consultation_psychologique"
    AAOR = "aaor"
    SPECIFIC_SERVICES = "services_specifiques"
    PUBLIC_HEALTH = "sante_publique"
    COMMUNITY_RESOURCE = "ressource_communautaire"
    MEDICAL_CLINIC = "gmf_clinique"
    CRISIS_HOUSING = "hebergement_crise"
    OTHER = "autre"


class ReferralMeasure(StrEnum):
    """The measures of L725-729: « une référence personnalisée, un accompagnement, etc. »."""

    REFERENCE = "reference_personnalisee"
    ACCOMPANIMENT = "accompagnement"


class ReceivingService(Frozen):
    """The service that receives the person, through its intake worker (L730-733)."""

    org_id: Code
    service: ReceivingServiceType
    name: ShortText | None = None
    # A service of the directory (`domain.directory`), checked against it; None: the free organisation code.
    directory_service_id: Code | None = None


class ClosureKind(StrEnum):
    AT_PHONE = "fermeture_telephonique"
    RESOLVED = "crise_resolue"
    REACHED_SERVICE = "service_rejoint"
    BY_SUPERVISOR = "fermeture_superviseur"


class HandoffSharing(Frozen):
    """On what basis the intake may be sent to a mobile team outside the establishment.

    Stated once by the intervenant who asks for the mobile intervention; every community
    team then asked receives the intake only under it, and each sending is decided and
    registered by the disclosure rules (issue 4): with the person's consent, or without it
    through the emergency path of LSSSS 19.0.1 / LRSSS s. 74 when every condition is
    attested. With neither, the team is asked without the intake's content, and that
    refusal is registered too. The words of the emergency note (who is in danger, the act
    to prevent, the danger, its urgency, what is communicated and why) go in the command's
    `personal` mapping: see `EMERGENCY_NOTE_FIELDS`.
    """

    consent_key: OpaqueId | None = None
    attestations: list[Condition] = Field(default_factory=list, max_length=len(Condition))
    items: list[Annotated[str, StringConstraints(min_length=1, max_length=80)]] = Field(
        default_factory=lambda: ["motif", "niveau_urgence", "estimation_risques"], min_length=1,
        max_length=MAX_SHARED_ITEMS,
    )
    mode: CommunicationMode = CommunicationMode.TELEPHONE


EMERGENCY_NOTE_FIELDS = ("person_or_group_in_danger", "act_to_prevent", "danger", "urgency", "communicated", "reasons")
