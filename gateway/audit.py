"""`/v1/audit`: an auditor's (or a supervisor's) reads of the record through the gateway, in the role the token
gives (issue 10): a replay of an entente or a crisis case as it stood (`arrimage audit replay`), and the register
of communications about one person (`arrimage audit register`). Each goes through the use case the CLI's
direct commands use (`usecases.audit.replays`, `usecases.audit.reads`): decided and registered as an access
before anything is answered, allowed or refused.

Only a party reads: a case's parties (a partner under an entente in force, or on a case it holds since before
its entente ended: `domain.principals.standing`), an entente's parties, and for a person's register an
organisation party to one of that person's cases. Consents are not served here yet: they name no organisation
the door could check (`arrimage audit replay consent:…` stays an operator's read).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import AwareDatetime, BaseModel, Field
from starlette.concurrency import run_in_threadpool

from domain.audit.checkpoint import CheckpointError
from domain.audit.replay import AggregateKind, AggregateRef, Replay
from domain.disclosure.model import Outcome
from domain.disclosure.roles import PurposeKind
from domain.principals.access import NotAParty, case_parties, check_case_party, check_entente_party
from domain.principals.model import Principal
from domain.principals.standing import NoEntenteInForce
from gateway.cases import READ_PROBLEMS, Access, case_code, read_refused, reader
from gateway.ententes import entente_code
from gateway.guard import Guard, now
from gateway.people import answer
from gateway.problems import FieldProblem, ProblemError, documented
from usecases.audit.proof_reads import MAX_ID, BadProofRequest, NotInTree, NotProvable, ProofRefused
from usecases.audit.reads import Reader
from usecases.audit.trail import knows

if TYPE_CHECKING:
    from workers.bootstrap import Root

AGGREGATE = r"^(entente|case):[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
EVENT = r"^([0-9]{1,19}|[0-9A-Fa-f-]{32,36}@[0-9]{1,19})$"  # as `arrimage audit prove EVENT`, ids within 64 bits
LOG_KEY_HEADER = "Arrimage-Log-Key"
HASHES = "hex (lowercase), as `arrimage audit prove --json`"


class RegisterRead(BaseModel):
    person: str
    entries: list[dict[str, Any]]  # what the decision lets this role see of each entry (as `audit register`)
    access: Access


class InclusionRead(BaseModel):
    """RFC 9162 2.1.3: the event is leaf `leaf_index` of the tree of `tree_size` leaves whose root is `root`."""

    leaf_index: int = Field(description="0-based: the event's position in the log, minus one")
    tree_size: int
    notification_id: int
    aggregate_id: str
    version: int
    event_hash: str = Field(description=f"the event's chain entry (SHA-256 over its stored form), {HASHES}")
    leaf_hash: str = Field(description=f"SHA-256(0x00 || event_hash), {HASHES}")
    proof: list[str] = Field(description=f"the sibling hashes from the leaf up, {HASHES}")
    root: str = Field(description=f"the tree's root at tree_size, {HASHES}: compare it with the base64 root of a "
                                  "checkpoint of that size you trust")
    access: Access


class ConsistencyRead(BaseModel):
    """RFC 9162 2.1.4: PROOF(first, D[second]), that the tree of `second` leaves extends the tree of `first`."""

    first: int
    second: int
    proof: list[str] = Field(description=f"the proof's hashes, {HASHES}")


def routes(root: Root, guard: Guard) -> APIRouter:
    router = APIRouter(prefix="/v1/audit", tags=["audit"])

    @router.get("/replay", responses={**answer(Replay), **READ_PROBLEMS}, response_class=JSONResponse)
    async def replay(
        request: Request,
        aggregate: Annotated[str, Query(pattern=AGGREGATE, description="entente:CODE or case:CASE_CODE.")],
        as_of: Annotated[AwareDatetime | None, Query(description="Rebuild from the events recorded at or before "
                                                                 "this moment (default: now).")] = None,
        purpose: Annotated[PurposeKind | None, Query(description="What the read is for (default: the role's "
                                                                 "usual purpose).")] = None,
    ) -> JSONResponse:
        """An entente or a crisis case as it stood, item by item as the principal's role may see it (as `arrimage
        audit replay`); the replay is registered as an access first. Refused: 403 with the rule's code (the
        refusal registered: the person's register, or the entente's reads log)."""
        principal = await guard.principal(request)
        ref = await run_in_threadpool(door, root, principal, aggregate)
        # its authorisations as registered on its account and recorded at as_of: the replay reads them
        done: Replay = await run_in_threadpool(lambda: root.replays.replay(
            ref, role=principal.role, actor_id=principal.actor, moment=now(), as_of=as_of, purpose=purpose))
        if done.outcome is Outcome.REFUSED:
            code = done.refusal.code if done.refusal else next((i.code for i in done.items if i.code), None)
            reason = done.refusal.reason if done.refusal else next((i.reason for i in done.items if i.reason), "")
            raise ProblemError(403, f"{reason} (this refused access is recorded: {done.access_id})",
                               code=code or ("not_an_entente_reader" if ref.kind is AggregateKind.ENTENTE
                                             else "refused"))
        return JSONResponse(done.model_dump(mode="json"))

    @router.get("/register", responses={**answer(RegisterRead), **READ_PROBLEMS}, response_class=JSONResponse)
    async def register(
        request: Request,
        # An opaque id's characters, as /v1/me/register and /fhir/AuditEvent take them: anything else (a NUL,
        # which a PostgreSQL text parameter cannot carry) is bad input, never a lookup.
        person: Annotated[str, Query(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$",
                                     description="The person's opaque id.")],
        purpose: Annotated[PurposeKind | None, Query(description="What the read is for.")] = None,
    ) -> JSONResponse:
        """The register entries about one person, as the principal's role may see them (as `arrimage audit
        register`): for an organisation party to one of that person's cases; registered in that register first,
        allowed or refused (403 with the rule's code)."""
        principal = await guard.principal(request)
        await run_in_threadpool(person_door, root, principal, person)
        who = await run_in_threadpool(reader, root, principal)
        read = await run_in_threadpool(root.reads.register, person,
                                       Reader.of(who.actor_id, who.role, purpose, who.facts), now())
        if read.entries is None:
            raise read_refused(read.decision)
        found = RegisterRead(person=person, entries=read.entries, access=Access.decided(read.decision))
        return JSONResponse(found.model_dump(mode="json"))

    # The log's Merkle proofs (issue 13), for the readers of audit metadata (auditors, supervisors: who may export
    # the trail), decided and registered by `root.proof_reads` (`usecases.audit.proof_reads` says what is
    # registered and why: a refusal always; an allowed inclusion proof, since it names one event of a person's
    # record; not a checkpoint or a consistency proof, which name no event). 422 and 404 register nothing.
    @router.get("/checkpoint", response_class=PlainTextResponse, responses={
        200: {"description": "the signed checkpoint note (C2SP tlog-checkpoint), its bytes exactly",
              "headers": {LOG_KEY_HEADER: {
                  "description": "the log's verifier key (`<origin>+<key id>+<base64>`, as `arrimage audit log-key` "
                                 "prints it) that opens the note: the engine's word for it, pin yours out of band",
                  "required": True, "schema": {"type": "string"}}}},
        **documented(401, 403, 409, 429)})
    async def checkpoint(request: Request) -> PlainTextResponse:
        """The C2SP checkpoint of the record's Merkle tree now (origin `arrimage/<store id>`, size, base64 root,
        extension lines `arrimage-chain` and `arrimage-time`), signed by the log key after a verify of the record
        from the last checkpoint the engine signed and kept (only the events since; the first one, a full verify):
        text/plain, the note's bytes as `arrimage audit checkpoint --note` writes them, for `/v1/audit/proofs/*`
        and `arrimage audit prove|consistency`. The verifier key in the `Arrimage-Log-Key` header (text, as
        witnesses and tlog tools read a checkpoint). 409: the record does not verify or is empty (nothing signed)."""
        principal = await guard.principal(request)
        who = await run_in_threadpool(reader, root, principal)
        try:
            signed = await run_in_threadpool(root.proof_reads.checkpoint, who, now())
        except ProofRefused as err:
            raise proof_refused(err) from None
        except CheckpointError as err:
            raise ProblemError(409, err.message, code="not_signed") from None
        return PlainTextResponse(str(signed.note), headers={LOG_KEY_HEADER: str(signed.log_key)})

    @router.get("/proofs/inclusion", responses={**answer(InclusionRead), **READ_PROBLEMS}, response_class=JSONResponse)
    async def inclusion(
        request: Request,
        event: Annotated[str, Query(pattern=EVENT, description="A notification id, or `<aggregate uuid>@<version>` "
                                                                "(as `arrimage audit prove EVENT`).")],
        tree_size: Annotated[int, Query(ge=1, le=MAX_ID, description="The size of the checkpoint to prove against "
                                                                    "(at most the tree's size now).")],
    ) -> JSONResponse:
        """The proof that the event is in the tree of `tree_size` events, verified against the store's root at that
        size before it is returned; check it against the root of a checkpoint of that size you opened with the
        log key you pin. Registered as a read of that event (metadata: its identity, no content). 404: no such
        event, or not in that tree; 422: a malformed event, or a size beyond the tree (nothing registered)."""
        principal = await guard.principal(request)
        who = await run_in_threadpool(reader, root, principal)
        try:
            done = await run_in_threadpool(root.proof_reads.inclusion, event, tree_size, who, now())
        except (ProofRefused, BadProofRequest, NotInTree, NotProvable) as err:
            raise proof_problem(err) from None
        p = done.proof
        found = InclusionRead(
            leaf_index=p.index, tree_size=p.size, notification_id=p.notification_id, aggregate_id=p.aggregate_id,
            version=p.version, event_hash=p.event_hash.hex(), leaf_hash=p.leaf_hash.hex(),
            proof=[h.hex() for h in p.proof], root=p.root.hex(),
            access=Access(access_id=done.read.read_id, outcome=done.read.outcome.value, basis=done.read.rule))
        return JSONResponse(found.model_dump(mode="json"))

    @router.get("/proofs/consistency", responses={**answer(ConsistencyRead), **documented(401, 403, 422, 429)},
                response_class=JSONResponse)
    async def consistency(
        request: Request,
        first: Annotated[int, Query(ge=0, le=MAX_ID, description="The older checkpoint's size.")],
        second: Annotated[int, Query(ge=0, le=MAX_ID, description="The newer checkpoint's size (at most the tree's "
                                                                  "size now).")],
    ) -> JSONResponse:
        """The proof that the tree of `second` events extends the tree of `first` (append-only): check it against
        the roots of two checkpoints you opened with the log key you pin (`arrimage audit consistency OLD NEW`
        does). 422: first after second, or second beyond the tree (nothing registered)."""
        principal = await guard.principal(request)
        who = await run_in_threadpool(reader, root, principal)
        try:
            done = await run_in_threadpool(root.proof_reads.consistency, first, second, who, now())
        except (ProofRefused, BadProofRequest, NotProvable) as err:
            raise proof_problem(err) from None
        return JSONResponse(ConsistencyRead(first=done.first, second=done.second,
                                            proof=[h.hex() for h in done.proof]).model_dump(mode="json"))

    return router


def proof_refused(err: ProofRefused) -> ProblemError:
    return ProblemError(403, f"{err.read.reason} (this refused access is recorded: {err.read.read_id})",
                        code="not_a_metadata_reader")


def proof_problem(err: Exception) -> ProblemError:
    """What `root.proof_reads` refused, as its problem: 403 the rules (registered), 422 a parameter, 404 no such
    event in that tree, 500 a store whose tree does not prove what it holds (run `arrimage audit verify`)."""
    if isinstance(err, ProofRefused):
        return proof_refused(err)
    if isinstance(err, BadProofRequest):
        return ProblemError(422, err.message, errors=[FieldProblem(field=err.field, message=err.message)])
    if isinstance(err, NotInTree):
        return ProblemError(404, str(err), code="not_found")
    return ProblemError(500, f"the log's tree does not prove it: {err}", code="not_provable")


def door(root: Root, principal: Principal, aggregate: str) -> AggregateRef:
    """The aggregate named, and the principal a party to it (404 no such one; 403 `not_a_party`)."""
    try:
        ref = AggregateRef.parse(aggregate)
    except ValueError as err:
        raise ProblemError(422, "not an aggregate", errors=[FieldProblem(field="aggregate", message=str(err))]) \
            from None
    if ref.kind is AggregateKind.CASE:
        ref = AggregateRef(kind=ref.kind, key=case_code(ref.key))
        view = root.crisis_cases.view(ref.key)
        check_case_party(principal, view)  # as `GET /v1/cases/{code}`: a party, a partner in standing
        root.principals.check_case_standing(principal, view, now())
    else:
        ref = AggregateRef(kind=ref.kind, key=entente_code(ref.key))
        view_e = root.ententes.view(ref.key)
        check_entente_party(principal, ref.key, view_e.content, view_e.proposed_content)
    return ref


def person_door(root: Root, principal: Principal, person: str) -> None:
    """A person the record knows (404 otherwise, nothing registered), and the principal's organisation party
    to one of their cases (403 `not_a_party`, nothing registered)."""
    if not knows(root.record, person):
        raise ProblemError(404, f"the record holds nothing about person {person}", code="not_found")
    moment: datetime = now()
    # Only the person's cases are loaded (the listings view's index on the person), not every case of the record.
    for _, _, view in root.crisis_cases.views(root.crisis_cases.of_person(person), skipped=lambda _: None):
        if view.subject_id == person and principal.org_id in case_parties(view):
            try:
                root.principals.check_case_standing(principal, view, moment)
            except NoEntenteInForce:  # a partner's entente no longer in force: another case may do
                continue
            return
    raise NotAParty(f"{principal.org_id} is not a party to any case of person {person}")
