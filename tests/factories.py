"""Realistic ententes for tests: a service entente and a three-party entente-cadre."""

from __future__ import annotations

from datetime import date

from domain.ententes.model import (
    AccessModalities,
    Commitment,
    Duration,
    EntenteContent,
    EntenteKind,
    EntenteObject,
    FollowUp,
    InformationSharing,
    Party,
    ReferralChannel,
    ServiceCode,
    ServiceOffer,
    SpecialProvisions,
)

CISSS = Party(party_id="cisss-laval", name="CISSS de Laval", type="cisss", territories=["laval"])
CENTRE_CRISE = Party(
    party_id="cc-laval", name="Centre de crise de Laval", type="centre_crise", territories=["laval"],
    mission="Intervention de crise 24/7 dans la communauté",
)
CPS = Party(
    party_id="cps-laval", name="Centre de prévention du suicide de Laval", type="centre_prevention_suicide",
    territories=["laval"],
)


def service_entente(
    *, effective: date | None = date(2027, 1, 1), end: date | None = None, notice_days: int = 90,
    title: str = "Intervention de crise dans le milieu — Laval",
) -> EntenteContent:
    return EntenteContent(
        title=title,
        kind=EntenteKind.SERVICE,
        preamble="Arrimage du volet social d'Info-Social avec le centre de crise du territoire.",
        parties=[CISSS, CENTRE_CRISE],
        object=EntenteObject(
            nature="Prestation du service mobile d'intervention de crise « face à face »",
            objectives=["Intervention immédiate en situation urgente", "Éviter le recours non essentiel à l'urgence"],
        ),
        clienteles=["Toute personne vivant une situation de crise psychosociale ou psychiatrique"],
        services=[
            ServiceOffer(service=ServiceCode.INTERVENTION_CRISE_MOBILE, provider="cc-laval", territories=["laval"],
                         hours="24/7", annual_volume=1200),
            ServiceOffer(service=ServiceCode.SUIVI_POST_CRISE, provider="cc-laval", territories=["laval"]),
        ],
        access=AccessModalities(
            criteria=["Crise nécessitant une intervention dans le milieu"],
            may_refer=["cisss-laval"],
            channels=[ReferralChannel.TELEPHONE, ReferralChannel.ELECTRONIQUE],
        ),
        information_sharing=InformationSharing(
            permitted=True, purposes=["continuité de l'intervention de crise"],
            items=["motif", "niveau d'urgence", "estimation du risque"],
            security_measures=["transmission chiffrée", "registre des communications"],
        ),
        commitments=[Commitment(party_id="cc-laval", text="Répondre à toute demande urgente immédiatement")],
        follow_up=FollowUp(committee=["Direction SSG du CISSS", "Direction du centre de crise"]),
        duration=Duration(effective_date=effective, end_date=end),
        provisions=SpecialProvisions(revocation_notice_days=notice_days),
    )


def entente_cadre(*, effective: date | None = date(2027, 1, 1), notice_days: int = 60) -> EntenteContent:
    return EntenteContent(
        title="Entente-cadre Info-Social — organismes communautaires de Laval",
        kind=EntenteKind.CADRE,
        parties=[CISSS, CENTRE_CRISE, CPS],
        object=EntenteObject(nature="Mécanismes d'arrimage entre Info-Social et les organismes du territoire"),
        services=[
            ServiceOffer(service=ServiceCode.INTERVENTION_CRISE_MOBILE, provider="cc-laval", territories=["laval"]),
            ServiceOffer(service=ServiceCode.INTERVENTION_TELEPHONIQUE_CRISE, provider="cps-laval",
                         territories=["laval"]),
        ],
        access=AccessModalities(may_refer=["cisss-laval", "cps-laval"]),
        duration=Duration(effective_date=effective),
        provisions=SpecialProvisions(revocation_notice_days=notice_days),
    )
