"""The entry points that listed cases, épisodes or ententes by scanning the notification log now read the listings
view (issue 12, « reads that stay fast at scale »): `report standards` (the cases and épisodes opened in a period),
the gateway's case listing and entente listing (`gateway.people`), the FHIR Task search (`gateway.fhir`, narrowed
by `_id` to the cases its Task ids name), the person door of the audit routes (only the person's cases, by the
view's index on the person), `standards` (the ententes' coverage) and the portal's signatures page. Over one record
with cases and épisodes opened over several days for several persons, some closed, some with a handoff's Task, and
ententes drafted and in force, on SQLite and PostgreSQL, each answer through the view equals the scan's
(`from_view=False`), and the narrowed ones equal what loading every case of the scan found."""

from __future__ import annotations

from datetime import datetime, timedelta

from adapters.record.record import Record
from domain.crisis import commands as c
from domain.crisis.model import PhoneDisposition
from domain.ententes import commands as ec
from domain.episodes import commands as ep
from domain.episodes.model import RequestMode, ServiceKind
from domain.fhir.tasks import tasks
from gateway.fhir import Search, task_candidates
from tests.crisis_builders import CSSS, T0, activate, crisis_content, open_cmd, request
from usecases.crisis import CrisisCases
from usecases.ententes import Ententes
from usecases.episodes import ServiceEpisodes

SUBJECTS = ("p-01-abcdef", "p-02-abcdef", "p-03-abcdef")
DAY = timedelta(days=1)
PERIODS: list[tuple[datetime | None, datetime | None]] = [
    (None, None),
    (T0, T0 + DAY),
    (T0 + DAY, T0 + 3 * DAY),
    (T0 + 2 * DAY, None),
    (None, T0 + DAY + timedelta(hours=5)),
    (T0 + 30 * DAY, None),
]


def _code(n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return "AAAAAAAA" + alphabet[n // 32 % 32] + alphabet[n % 32]


def _populate(record: Record, start: int, count: int) -> None:
    """For each n: an entente drafted (every fourth put in force), a crisis case opened n × 7 hours after T0 for
    person n % 3 (every third closed at the phone, the others asking the CSSS's mobile team: a handoff's Task), an
    épisode opened n × 5 hours after T0 (every other one closed)."""
    ententes, cases, episodes = Ententes(record), CrisisCases(record), ServiceEpisodes(record)
    for n in range(start, start + count):
        if n % 4 == 0:
            activate(ententes, f"ENT-LAV-2028-{n:02d}", crisis_content(), T0)
        else:
            ententes.draft(ec.DraftEntente(by="dsp", code=f"ENT-LAV-2028-{n:02d}", content=crisis_content()), T0)
        code, at = f"C-{_code(n)}", T0 + n * timedelta(hours=7)
        cases.open(open_cmd(code, face=n % 3 != 0, subject=SUBJECTS[n % 3], command_id=f"o-{n}"), at, ententes=[])
        if n % 3 == 0:
            cases.execute(
                code,
                c.CloseAtPhone(
                    by="intervenant-1",
                    actor_org=CSSS,
                    disposition=PhoneDisposition.STABILISED,
                    reason="crise stabilisée",
                ),
                at + timedelta(minutes=5),
            )
        else:
            cases.execute(code, request(), at + timedelta(minutes=5), ententes=[])
        episode, at = f"E-{_code(n)}", T0 + n * timedelta(hours=5)
        episodes.open(
            ep.OpenEpisode(
                by="accueil-1",
                actor_org=CSSS,
                command_id=f"e-{n}",
                episode_code=episode,
                service=ServiceKind.CONSULTATION_SOCIALE,
                subject_id=SUBJECTS[n % 3],
                territory="laval",
                responsible_org=CSSS,
                request_mode=RequestMode.PHONE,
                personal={"request": "deuil"},
            ),
            at,
        )
        if n % 2:
            episodes.execute(
                episode, ep.CloseEpisode(by="ts-1", actor_org=CSSS, command_id=f"x-{n}"), at + timedelta(minutes=20)
            )


def _searches(record: Record) -> list[Search]:
    """Task searches as a partner's poll makes them: none, by owner, by status, by _id (Tasks that exist, one that
    does not, an id that is no Task id, a mix)."""
    every = [
        t.task_id
        for code, _ in CrisisCases(record).opened(from_view=False)
        for t in tasks(CrisisCases(record).view(code))
    ]
    assert len(every) >= 2
    return [
        Search.of(None, None, None, None),
        Search.of(f"Organization/{CSSS}", None, None, None),
        Search.of(None, None, "requested", None),
        Search.of(None, None, None, every[0]),
        Search.of(None, None, None, f"{every[-1]},{every[0]}"),
        Search.of(None, None, None, "C-AAAAAAAAZZ-h1"),
        Search.of(None, None, None, "not-a-task"),
        Search.of(None, None, None, f"{every[1]},not-a-task"),
    ]


def _same_as_the_scan(record: Record) -> dict[str, object]:
    """Each caller's answer through the view, asserted equal to the scan's; the view's answers returned."""
    cases, episodes, ententes = CrisisCases(record), ServiceEpisodes(record), Ententes(record)
    answers: dict[str, object] = {}
    # report standards, and the gateway's case listing (opened since): the period's cases and épisodes.
    for since, until in PERIODS:
        answers[f"cases {since} {until}"] = cases.opened_in(since, until)
        assert answers[f"cases {since} {until}"] == cases.opened_in(since, until, from_view=False)
        answers[f"episodes {since} {until}"] = episodes.opened_in(since, until)
        assert answers[f"episodes {since} {until}"] == episodes.opened_in(since, until, from_view=False)
    # The audit routes' person door: the person's cases, closed or not; what loading every case found.
    for subject in (*SUBJECTS, "p-nobody"):
        answers[f"person {subject}"] = cases.of_person(subject)
        assert answers[f"person {subject}"] == cases.of_person(subject, from_view=False)
        loaded = [
            code
            for code, _, view in cases.views(cases.opened(from_view=False), skipped=lambda _: None)
            if view.subject_id == subject
        ]
        assert [code for code, _ in cases.of_person(subject)] == loaded
    # The FHIR Task search: the cases (and Tasks) found equal those of loading every case the scan lists.
    for org in (CSSS, "cc-nobody"):
        for n, wanted in enumerate(_searches(record)):
            found = task_candidates(cases, org, wanted)
            assert found == task_candidates(cases, org, wanted, from_view=False)
            every = [
                (
                    code,
                    {t.task_id for t in tasks(cases.view(code)) if org in (t.owner, t.requester) and wanted.matches(t)},
                )
                for code, _ in cases.opened(from_view=False)
            ]
            assert found == [(code, ids) for code, ids in every if ids]
            answers[f"tasks {org} {n}"] = found
    # The entente listings (gateway, portal signatures, standards' coverage).
    answers["ententes"] = ententes.list(from_view=True)
    assert answers["ententes"] == ententes.list(from_view=False)
    return answers


def test_each_caller_s_answer_from_the_view_equals_the_scan(store_env: dict[str, str]) -> None:
    record = Record(store_env)
    try:
        _populate(record, 0, 9)
        answers = _same_as_the_scan(record)
        assert len(answers["cases None None"]) == 9  # type: ignore[arg-type]
        # Opened at 0, 7, 14, 21 hours on the first day (n = 0..3); at 28..56 hours on the next two (n = 4..8).
        assert [code for code, _ in answers[f"cases {T0} {T0 + DAY}"]] == [  # type: ignore[attr-defined]
            f"C-{_code(n)}" for n in range(4)
        ]
        assert answers[f"cases {T0 + 30 * DAY} None"] == []
        assert [code for code, _ in answers["person p-02-abcdef"]] == [  # type: ignore[attr-defined]
            f"C-{_code(n)}" for n in (1, 4, 7)
        ]
        assert answers["person p-nobody"] == []
        # Six cases asked the CSSS's team (n % 3 != 0): one Task each, owned by the CSSS.
        assert len(answers[f"tasks {CSSS} 0"]) == 6  # type: ignore[arg-type]
        assert len(answers[f"tasks {CSSS} 3"]) == 1 and len(answers[f"tasks {CSSS} 4"]) == 2  # type: ignore[arg-type]
        assert answers[f"tasks {CSSS} 5"] == answers[f"tasks {CSSS} 6"] == answers["tasks cc-nobody 0"] == []
        assert len(answers["ententes"]) == 9  # type: ignore[arg-type]
    finally:
        record.close()

    # Another process records while nobody reads the view; a reader started afterwards catches up with those only.
    writer = Record(store_env)
    try:
        _populate(writer, 9, 3)
    finally:
        writer.close()
    reader = Record(store_env)
    try:
        answers = _same_as_the_scan(reader)
        assert len(answers["cases None None"]) == 12  # type: ignore[arg-type]
        assert len(answers["ententes"]) == 12  # type: ignore[arg-type]
    finally:
        reader.close()
