"""Failed authentications are limited per client address (issue 10: "request rates are limited"): a wrong
secret under a valid key id costs a scrypt run, so past ARRIMAGE_GATEWAY_AUTH_FAILURE_BURST failures an
address waits (429 `rate_limited`, `Retry-After`) before any credential of it is checked again, a valid one
included; other addresses are not affected, and a success costs nothing from the bucket. Nothing recorded.
The real application over a real record, reached through httpx's ASGI transport from two client addresses;
the refill rate is set so low that no token comes back during the test (no clock, no sleep)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from tests.gateway.api import events, problem
from workers.bootstrap import Root, bootstrap
from workers.settings import Settings

BURST = 3


@pytest.fixture
def root(store_env: dict[str, str], tmp_path: Path) -> Iterator[Root]:
    found = bootstrap(Settings(_env_file=None, mode="development", data_dir=tmp_path,
                               gateway_auth_failure_burst=BURST, gateway_auth_failure_rate=0.0001),
                      record_env=store_env)
    yield found
    found.close()


@asynccontextmanager
async def client(app: object, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield http


async def test_an_address_that_fails_too_often_waits_before_any_key_is_checked(root: Root) -> None:
    key = root.principals.add_partner("cps-laval", "CPS", by="t", at=datetime.now(UTC)).key
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")  # the right key id, a wrong secret
    hasher = root.principals.hasher
    app = create_app(root)
    before = events(root.record)
    async with client(app, "203.0.113.7") as guesser, client(app, "198.51.100.2") as partner:
        assert (await guesser.get("/v1/me", headers={"Authorization": f"Bearer {key}"})).status_code == 200
        runs = hasher.kdf_runs
        for attempt in (f"Bearer {wrong}", "Bearer ark_000000000000_" + "x" * 43, ""):  # BURST failures
            problem(await guesser.get("/v1/me", headers={"Authorization": attempt} if attempt else {}), 401,
                    "unauthenticated")
        assert hasher.kdf_runs == runs + 1  # the wrong secret ran scrypt once; an unknown kid, none
        for attempt in (f"Bearer {wrong}", f"Bearer {key}"):  # now even the right key waits
            refused = await guesser.get("/v1/me", headers={"Authorization": attempt})
            body = problem(refused, 429, "rate_limited")
            assert "failed authentications from 203.0.113.7" in body["detail"]
            assert int(refused.headers["Retry-After"]) >= 1
        assert hasher.kdf_runs == runs + 1  # nothing checked while it waits
        # another address is not affected, and its successes take nothing from its bucket
        for _ in range(BURST + 2):
            assert (await partner.get("/v1/me", headers={"Authorization": f"Bearer {key}"})).status_code == 200
    assert events(root.record) == before
