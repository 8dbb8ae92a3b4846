"""Épisodes de services on the real workflow and a real record (issue 11), by time skipping: the consultation
clocks as durable timers (first contact ≤ 7 days, follow-up started ≤ 30 days after the acceptance, urgent
≤ 24 h: seed 001 L1485-1493, L1731-1739) and the 12-meeting cap, lifted only by a revised PI (L1423-1426)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from adapters.record.keys import DEV_PAYLOAD_KEYS
from adapters.record.record import Record
from adapters.temporal.codec import EncryptionCodec
from domain.episodes import commands as c
from domain.episodes.model import MeetingMode, RequestMode, ServiceKind, new_episode_code
from domain.episodes.state import ClockStatus, EpisodeView
from domain.standards import config as s
from domain.standards.config import UrgencyLevel
from tests.crisis_builders import accepted_update_ids
from tests.episode_builders import CSSS, accept, act, episodes_worker, missed, names, start, wait_for
from tests.integration.test_temporal_shredding import all_payloads, readable_with
from workers.bootstrap import bootstrap
from workers.settings import Settings
from workers.worker import build_worker
from workflows.episodes import workflow_id

DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def stored_bytes(env: dict[str, str]) -> bytes:
    """Everything the store holds, as bytes: the SQLite file and its write-ahead log, or every value of every
    table of the PostgreSQL schema (bytea as its bytes, the rest as text)."""
    if env["PERSISTENCE_MODULE"] != "adapters.record.postgres":
        db = Path(env["SQLITE_DBNAME"])
        return b"".join(f.read_bytes() for f in (db, db.with_name(db.name + "-wal")) if f.exists())
    import psycopg
    from psycopg import sql

    schema, values = env["POSTGRES_SCHEMA"], list[bytes]()
    with psycopg.connect(host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], dbname=env["POSTGRES_DBNAME"],
                         user=env["POSTGRES_USER"], password=env["POSTGRES_PASSWORD"]) as conn:
        tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                              (schema,)).fetchall()
        for (table,) in tables:
            query = sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            for row in conn.execute(query):
                values.extend(v if isinstance(v, bytes) else str(v).encode() for v in row)
    return b"".join(values)


async def test_the_7_day_and_30_day_clocks_fire_from_the_acceptance(
    time_env: WorkflowEnvironment, task_queue: str, record: Record, tmp_path: Path
) -> None:
    """Accepted and never reached: `DeadlineMissed` for the first contact at the 7th day (L1485-1487), then for
    the follow-up at the 30th (L1489-1490), each at its own moment, on SQLite and PostgreSQL."""
    async with episodes_worker(time_env.client, task_queue, record, tmp_path) as episodes:
        handle, code = await start(time_env.client, task_queue)
        accepted = await act(handle, accept())
        assert accepted.accepted_at is not None
        await time_env.sleep(7 * DAY + HOUR)
        view = await wait_for(handle, missed(s.CONSULTATION_SOCIALE_PREMIER_CONTACT))
        first = view.clock(s.CONSULTATION_SOCIALE_PREMIER_CONTACT)
        assert first is not None and first.missed_at == accepted.accepted_at + 7 * DAY
        assert view.clock(s.CONSULTATION_SOCIALE_AMORCE_SUIVI).status is ClockStatus.RUNNING  # type: ignore[union-attr]
        await time_env.sleep(23 * DAY)
        view = await wait_for(handle, missed(s.CONSULTATION_SOCIALE_AMORCE_SUIVI))
        assert view.clock(s.CONSULTATION_SOCIALE_AMORCE_SUIVI).missed_at == (  # type: ignore[union-attr]
            accepted.accepted_at + 30 * DAY)
        assert names(episodes, code) == ["Opened", "RequestAccepted", "DeadlineMissed", "DeadlineMissed"]
        assert episodes.view(code) == view  # the record and the workflow agree


async def test_an_urgent_consultation_is_missed_at_24_hours_and_one_reached_in_time_is_met(
    time_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path
) -> None:
    """« traitée … au plus tard dans les 24 heures » (L1738-1739): the psychological consultation not reached
    is missed at the 24th hour; the one reached at the 20th meets it."""
    record = Record(store_env)
    async with episodes_worker(time_env.client, task_queue, record, tmp_path) as episodes:
        kind = ServiceKind.CONSULTATION_PSYCHOLOGIQUE
        waiting, w_code = await start(time_env.client, task_queue, kind, UrgencyLevel.MODERATE)
        reached, r_code = await start(time_env.client, task_queue, kind, UrgencyLevel.MODERATE)
        accepted = await act(waiting, accept())
        await act(reached, accept())
        await time_env.sleep(20 * HOUR)
        await act(reached, c.RecordFirstContact(by="psy-3", actor_org=CSSS))
        await time_env.sleep(5 * HOUR)
        view = await wait_for(waiting, missed(s.CONSULTATION_PSYCHOLOGIQUE_URGENCE))
        urgent = view.clock(s.CONSULTATION_PSYCHOLOGIQUE_URGENCE)
        assert urgent is not None and urgent.missed_at == accepted.accepted_at + 24 * HOUR  # type: ignore[operator]
        met = episodes.view(r_code).clock(s.CONSULTATION_PSYCHOLOGIQUE_URGENCE)
        assert met is not None and met.status is ClockStatus.MET
        assert names(episodes, w_code)[-1] == "DeadlineMissed"
        assert "DeadlineMissed" not in names(episodes, r_code)
    record.close()


async def test_a_13th_meeting_is_refused_until_the_pi_is_revised(
    time_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path
) -> None:
    """« maximum de 12 rencontres … le plan d'intervention est alors révisé » (L1423-1426): the 13th meeting is
    refused by the update's validator (no event, no accepted update); after a revision granting one more,
    recorded as its own event, it is accepted."""
    record = Record(store_env)
    async with episodes_worker(time_env.client, task_queue, record, tmp_path) as episodes:
        handle, code = await start(time_env.client, task_queue)
        await act(handle, accept())
        await act(handle, c.RecordInterventionPlan(by="ts-12", actor_org=CSSS, personal={"objectifs": "…"}))

        def meeting() -> c.RecordMeeting:
            return c.RecordMeeting(by="ts-12", actor_org=CSSS, mode=MeetingMode.VIDEO, intervenant_id="ts-12")

        for _ in range(12):
            await act(handle, meeting())
        before = names(episodes, code)
        update_id = f"meeting-13-{uuid.uuid4().hex[:6]}"
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update("act", meeting(), id=update_id, result_type=EpisodeView)
        cause = info.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "meeting_cap_reached"
        assert "12 meetings" in cause.message and "seed 001 L1423-1426" in cause.message
        assert names(episodes, code) == before
        assert update_id not in await accepted_update_ids(handle)
        await act(handle, c.ReviseInterventionPlan(by="ts-12", actor_org=CSSS, additional_meetings=1,
                                                   personal={"justification": "progrès, fin de suivi proche"}))
        view = await act(handle, meeting())
        assert len(view.meetings) == 13 and view.meetings[-1].number == 13
        assert names(episodes, code)[-2:] == ["InterventionPlanRevised", "MeetingHeld"]
        revised = episodes.history(code)[-2]
        assert revised["additional_meetings"] == 1 and revised["personal"] == "<1 champ(s) personnel(s)>"
        # The justification is sealed in the record's rows and encrypted in Temporal's history; it opens with the
        # person's key, for whoever the disclosure rules let read it.
        said = "fin de suivi proche"
        stored = stored_bytes(store_env)
        assert b"InterventionPlanRevised" in stored  # the rows are here, the words are not
        assert said.encode() not in stored
        history = await handle.fetch_history()
        assert said.encode() not in b"".join(e.SerializeToString() for e in history.events)
        opened = episodes.get(code).personal_details()
        assert opened[-1]["what"] == "revision.1" and said in opened[-1]["personal"]["justification"]
    record.close()


async def test_the_root_s_episode_client_opens_commands_and_seals_with_the_person_s_key(
    time_env: WorkflowEnvironment, task_queue: str, store_env: dict[str, str], tmp_path: Path
) -> None:
    """What the CLI and the gateway will call (`Root.episode_client`, `Root.episodes`): the opening binds the
    episode to its person, so every payload of its history is sealed with that person's key (the shared payload
    key opens none of the request's words); a refused command comes back typed with its rule's code."""
    settings = Settings(_env_file=None, task_queue=task_queue, data_dir=tmp_path)
    words = "violence conjugale rapportée"
    with bootstrap(settings, record_env=store_env, client=time_env.client) as root, ThreadPoolExecutor(4) as ex:
        async with build_worker(time_env.client, root.settings, root.record, executor=ex):
            code = new_episode_code()
            view = await root.episode_client.open(c.OpenEpisode(
                by="accueil-1", actor_org=CSSS, episode_code=code, service=ServiceKind.AAOR,
                subject_id="subj-root-0001", territory="laval", responsible_org=CSSS,
                request_mode=RequestMode.IN_PERSON, personal={"request": words},
            ), timeout=30)
            assert view.clock(s.AAOR_PREMIER_CONTACT) is not None
            with pytest.raises(WorkflowUpdateFailedError) as info:
                await root.episode_client.act(code, c.RecordMeeting(
                    by="ts-1", actor_org=CSSS, mode=MeetingMode.IN_PERSON, intervenant_id="ts-1"), timeout=30)
            assert isinstance(info.value.cause, ApplicationError) and info.value.cause.type == "not_accepted"
            await root.episode_client.act(code, accept(), timeout=30)
            view = await root.episode_client.act(code, c.CloseEpisode(by="ts-1", actor_org=CSSS), timeout=30)
            assert root.episodes.view(code) == view and root.episodes.still_open() == []
            client = await root.temporal.client()
            handle = client.get_workflow_handle(workflow_id(code))
            await handle.result()
            payloads = [p for e in (await handle.fetch_history()).events for p in all_payloads(e)]
    ns = time_env.client.namespace
    with_record = await readable_with(client.data_converter.payload_codec, ns, workflow_id(code), payloads)  # type: ignore[arg-type]
    assert any(words.encode() in p for p in with_record)  # not vacuous: the person's key opens it
    shared = await readable_with(EncryptionCodec(DEV_PAYLOAD_KEYS, allow_plaintext=True), ns, workflow_id(code),
                                 payloads)
    assert not any(words.encode() in p for p in shared)
