"""The lifecycle rules of an entente, as pure decisions over its view.

The aggregate calls them before recording anything, and the workflow's update
validators call the very same functions, so a refused command is refused
before it reaches Temporal's history *and* could never be recorded anyway.
`now` always comes from the caller (`workflow.now()` or the command).

Time only moves forward in the record: a calendar transition is never dated before
what caused it (an effective date already past at the last signature means the
entente takes effect at that signature), and a date a command names must be
plausible for it (a deadline within the policy's maximum, an end or revocation
date within the policy's horizon).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from domain.clock import add_days, add_months, local_date, start_of
from domain.ententes import commands as c
from domain.ententes.model import EntenteContent
from domain.ententes.state import EntentePolicy, EntenteStatus, EntenteView, Proposal, ProposalStage
from domain.ententes.wakeup import review_wakeup
from domain.errors import RuleViolation


def _refuse(code: str, message: str) -> RuleViolation:
    return RuleViolation(message, code=code)


def _not_ended(view: EntenteView) -> None:
    if view.status.ended:
        raise _refuse("agreement_ended", f"entente {view.code} is {view.status.value}: it accepts no command")


def check_revise(view: EntenteView, cmd: c.ReviseDraft) -> None:
    _not_ended(view)
    p = view.proposal
    if p is None or p.stage is ProposalStage.SIGNED:
        if view.status is EntenteStatus.ACTIVE:
            raise _refuse("no_open_draft", f"entente {view.code} is in force: propose an amendment instead")
        raise _refuse("no_open_draft", f"entente {view.code} has no version open for changes (every party signed)")
    if cmd.content.kind is not view.kind:
        raise _refuse("kind_changed", "the type of an entente cannot change; draft a new entente instead")


def _horizon(now: datetime, policy: EntentePolicy) -> date:
    return add_months(local_date(now), 12 * policy.horizon_years)


def _within_horizon(what: str, day: date, now: datetime, policy: EntentePolicy) -> None:
    horizon = _horizon(now, policy)
    if day > horizon:
        raise _refuse(
            "date_implausible",
            f"{what} {day} is more than {policy.horizon_years} years ahead (latest accepted: {horizon})",
        )


def check_submit(view: EntenteView, cmd: c.SubmitForSignature, now: datetime, policy: EntentePolicy) -> None:
    _not_ended(view)
    p = view.proposal
    if p is None or p.stage is not ProposalStage.DRAFTING:
        raise _refuse("not_drafting", f"entente {view.code} has no draft to submit")
    content = view.proposed_content
    assert content is not None
    end = content.duration.end_date
    if end is not None and end <= local_date(now):
        raise _refuse("ends_in_past", f"version {p.version} ends on {end}: it cannot be submitted")
    if end is not None:
        _within_horizon("the end date", end, now, policy)
    deadline = cmd.signature_deadline
    if deadline is not None and deadline <= now:
        raise _refuse(
            "deadline_in_past",
            f"the signature deadline must be in the future (given {deadline.isoformat()}, now {now.isoformat()})",
        )
    if deadline is not None and deadline > now + timedelta(days=policy.max_signature_period_days):
        raise _refuse(
            "date_implausible",
            f"the signature deadline {deadline.isoformat()} is more than {policy.max_signature_period_days} "
            "days ahead (the policy's maximum signature period)",
        )


def _in_signature(view: EntenteView) -> tuple[Proposal, EntenteContent]:
    """The version awaiting signatures and its content; refused when none does (signing or refusing)."""
    _not_ended(view)
    p = view.proposal
    if p is None or p.stage is not ProposalStage.IN_SIGNATURE:
        raise _refuse("not_in_signature", f"entente {view.code} is not awaiting signatures")
    content = view.proposed_content
    assert content is not None
    return p, content


def check_sign(view: EntenteView, cmd: c.SignEntente) -> None:
    p, content = _in_signature(view)
    if content.party(cmd.party_id) is None:
        raise _refuse(
            "not_a_party",
            f"{cmd.party_id} is not a party to entente {view.code} (parties: {', '.join(content.party_ids)})",
        )
    if cmd.version != p.version:
        raise _refuse(
            "superseded_version",
            f"version {cmd.version} of entente {view.code} is superseded: version {p.version} is the one to sign",
        )
    if p.signed_by(cmd.party_id):
        raise _refuse("already_signed", f"{cmd.party_id} already signed version {p.version}")


def check_refuse(view: EntenteView, cmd: c.RefuseSignature) -> None:
    p, content = _in_signature(view)
    if content.party(cmd.party_id) is None:
        raise _refuse("not_a_party", f"{cmd.party_id} is not a party to entente {view.code}")
    if cmd.version != p.version:
        raise _refuse("superseded_version", f"version {cmd.version} is superseded by version {p.version}")


def check_withdraw(view: EntenteView, cmd: c.WithdrawFromEntente) -> None:
    _not_ended(view)
    content = view.proposed_content or view.content
    if content.party(cmd.party_id) is None:
        raise _refuse("not_a_party", f"{cmd.party_id} is not a party to entente {view.code}")
    if view.in_force_version is not None and view.proposal is None:
        raise _refuse(
            "in_force",
            f"entente {view.code} is in force: a party leaves it by revocation, with notice",
        )


def _amendable(view: EntenteView) -> None:
    _not_ended(view)
    if view.status is not EntenteStatus.ACTIVE:
        raise _refuse("not_in_force", f"entente {view.code} is not in force ({view.status.value})")
    if view.proposal is not None:
        raise _refuse(
            "proposal_open",
            f"version {view.proposal.version} of entente {view.code} is already proposed: revise it instead",
        )
    if view.revocation is not None:
        raise _refuse("revocation_pending", f"entente {view.code} is being revoked")


def check_amend(view: EntenteView, cmd: c.ProposeAmendment) -> None:
    _amendable(view)
    if cmd.content.kind is not view.kind:
        raise _refuse("kind_changed", "the type of an entente cannot change; draft a new entente instead")


def check_renew(view: EntenteView, cmd: c.ProposeRenewal, now: datetime, policy: EntentePolicy) -> None:
    _amendable(view)
    current_end = view.content.duration.end_date
    if cmd.end_date is not None:
        if cmd.end_date <= local_date(now):
            raise _refuse("ends_in_past", "a renewal must end in the future")
        if current_end is not None and cmd.end_date <= current_end:
            raise _refuse("not_later", f"a renewal must end after the current end date ({current_end})")
        _within_horizon("a renewal's end date", cmd.end_date, now, policy)


def check_review(view: EntenteView, cmd: c.RecordReview, now: datetime, policy: EntentePolicy) -> None:
    _not_ended(view)
    if view.status is not EntenteStatus.ACTIVE or view.next_review_due is None:
        raise _refuse("not_in_force", f"entente {view.code} is not in force: nothing to review")
    if view.review_pending is None:
        opens = add_days(view.next_review_due, -policy.review_window_days)
        if local_date(now) < opens:
            raise _refuse(
                "review_not_due",
                f"the next review of entente {view.code} is due on {view.next_review_due} "
                f"(it may be held from {opens})",
            )


def check_revoke(view: EntenteView, cmd: c.GiveRevocationNotice, now: datetime, policy: EntentePolicy) -> None:
    _not_ended(view)
    if view.status is not EntenteStatus.ACTIVE:
        raise _refuse("not_in_force", f"entente {view.code} is not in force ({view.status.value})")
    if view.content.party(cmd.party_id) is None:
        raise _refuse("not_a_party", f"{cmd.party_id} is not a party to entente {view.code}")
    if view.revocation is not None:
        raise _refuse(
            "revocation_pending",
            f"entente {view.code} is already revoked as of {view.revocation.effective_date}",
        )
    notice = view.content.provisions.revocation_notice_days
    earliest = add_days(local_date(now), notice)
    if cmd.effective_date < earliest:
        raise _refuse(
            "notice_period",
            f"entente {view.code} requires {notice} days' notice: revocation can take effect "
            f"on {earliest} at the earliest, not {cmd.effective_date}",
        )
    _within_horizon("a revocation's effective date", cmd.effective_date, now, policy)


def check(view: EntenteView, cmd: c.Command, now: datetime, policy: EntentePolicy) -> None:
    """The rule of any command given a drafted entente: what the workflow's `act` validator calls."""
    match cmd:
        case c.ReviseDraft():
            check_revise(view, cmd)
        case c.SubmitForSignature():
            check_submit(view, cmd, now, policy)
        case c.SignEntente():
            check_sign(view, cmd)
        case c.RefuseSignature():
            check_refuse(view, cmd)
        case c.WithdrawFromEntente():
            check_withdraw(view, cmd)
        case c.ProposeAmendment():
            check_amend(view, cmd)
        case c.ProposeRenewal():
            check_renew(view, cmd, now, policy)
        case c.RecordReview():
            check_review(view, cmd, now, policy)
        case c.GiveRevocationNotice():
            check_revoke(view, cmd, now, policy)
        case _:
            raise _refuse("unknown_command", f"{type(cmd).__name__} is not a command of a drafted entente")


def default_signature_deadline(now: datetime, policy: EntentePolicy) -> datetime:
    return start_of(add_days(local_date(now), policy.signature_period_days + 1))


def first_review_due(activated_on: date, content: EntenteContent) -> date:
    return add_months(activated_on, content.follow_up.review_interval_months)


def expiry_moment(content: EntenteContent) -> datetime | None:
    """The end date is the last day in force: the entente expires at the next midnight."""
    end = content.duration.end_date
    return start_of(end + timedelta(days=1)) if end else None


def escalation_moment(view: EntenteView, policy: EntentePolicy) -> datetime | None:
    if view.review_pending is None:
        return None
    days = policy.review_grace_days + view.review_escalations * policy.escalation_repeat_days
    return start_of(add_days(view.review_pending, days))


def reminder_moment(view: EntenteView, policy: EntentePolicy) -> datetime | None:
    p = view.proposal
    if p is None or p.stage is not ProposalStage.IN_SIGNATURE or p.submitted_at is None:
        return None
    last = p.last_reminder_at or p.submitted_at
    return last + timedelta(days=policy.reminder_interval_days)


def effective_moment(view: EntenteView) -> datetime | None:
    """When a fully signed proposal takes effect: its last signature, or its effective date if later.

    An effective date already past at the last signature is not a back-dating: the version takes
    effect at that signature, and its review calendar starts there (no review is owed for the time
    before the entente existed).
    """
    p, content = view.proposal, view.proposed_content
    if p is None or content is None or p.stage is not ProposalStage.SIGNED:
        return None
    signed = max(s.at for s in p.signatures)
    if content.duration.effective_date is not None:
        return max(start_of(content.duration.effective_date), signed)
    return signed


def latest_moment(view: EntenteView) -> datetime:
    """The latest business moment the view holds: a calendar transition is never dated before it."""
    moments: list[datetime | None] = [*(v.at for v in view.versions), *(r.decided_at for r in view.reviews)]
    if view.revocation is not None:
        moments.append(view.revocation.noticed_at)
    p = view.proposal
    if p is not None:
        moments += [p.submitted_at, p.last_reminder_at, *(s.at for s in p.signatures)]
    return max(m for m in moments if m is not None)


def next_wakeup(view: EntenteView, policy: EntentePolicy, *, spread: bool = False) -> datetime | None:
    """The next instant at which the calendar changes something; None if nothing will.

    `spread`: when the workflow's timer should fire instead, a review's wake-up taken later in its due day
    (`domain.ententes.wakeup`) so that one day's anniversaries do not all wake at one instant. What is due,
    and the moment it is dated, stay the start of the due day (`due_now`, the aggregate's `advance`).
    """
    if view.status.ended:
        return None
    p = view.proposal
    moments: list[datetime | None] = [effective_moment(view)]
    if p is not None and p.stage is ProposalStage.IN_SIGNATURE:
        moments += [p.signature_deadline, reminder_moment(view, policy)]
    if view.status is EntenteStatus.ACTIVE:
        if view.revocation is not None:
            moments.append(start_of(view.revocation.effective_date))
        moments.append(expiry_moment(view.content))
        if view.review_pending is None and view.next_review_due is not None:
            due = view.next_review_due
            moments.append(review_wakeup(view.code, due) if spread else start_of(due))
        moments.append(escalation_moment(view, policy))
    real = [m for m in moments if m is not None]
    return min(real) if real else None


def due_now(view: EntenteView, policy: EntentePolicy, now: datetime) -> bool:
    """True when `advance(now)` would record something."""
    wake = next_wakeup(view, policy)
    return wake is not None and now >= wake


def in_force_at(view: EntenteView, moment: datetime) -> bool:
    """Is the entente in force at `moment`: active, its end date and its revocation's effective date not yet
    reached? Read from the dates, not from the calendar's record of them: from the instant an end or a
    revocation takes effect (seed 000, Annex 3, sections 10 and 11, L493-496), the entente stops routing,
    reassigning and sending, whether or not its workflow has woken to record the expiry or the revocation."""
    if view.status is not EntenteStatus.ACTIVE:
        return False
    expiry = expiry_moment(view.content)
    if expiry is not None and moment >= expiry:
        return False
    return not (view.revocation is not None and moment >= start_of(view.revocation.effective_date))
