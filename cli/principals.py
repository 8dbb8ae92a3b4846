"""What `arrimage partners` and `arrimage users` share: a table, one JSON object, the key once, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from pydantic import TypeAdapter, ValidationError
from rich.table import Table

from cli import parsing, render
from cli.client import root
from cli.errors import bad_input, refused, reported
from domain.clock import quebec_text
from domain.errors import DomainError, NotFound
from domain.principals.model import OidcIdentity, PrincipalKind, PrincipalView
from domain.values import Code
from usecases.principals import Issued

CODE = TypeAdapter(Code)


def now() -> datetime:
    return datetime.now(UTC)


def code(value: str, what: str = "an organisation code") -> str:
    try:
        return CODE.validate_python(value)
    except ValidationError:
        raise bad_input(f"{value!r}: expected {what} (letters, digits, '.', '_', '-')") from None


def overlap(value: str, at: datetime) -> timedelta:
    """`--overlap 24h` (m, h, d); `0` ends the old keys now."""
    if value.strip() in ("0", "0m", "0h", "0d"):
        return timedelta(0)
    return parsing.later("+" + value.strip().lstrip("+"), at, "--overlap") - at


@contextmanager
def refusals() -> Iterator[None]:
    """A rule's refusal as `refused [code]: …` (exit 2); not found stays exit 3 (`cli.errors.reported`)."""
    try:
        yield
    except NotFound:
        raise
    except DomainError as err:
        raise refused(err.code, err.message) from None


def as_json(view: PrincipalView) -> dict[str, object]:
    return view.model_dump(mode="json")


def table(views: list[PrincipalView], title: str, now: datetime) -> Table:
    out = Table(title=title)
    for column in ("id", "organisation", "role", "name", "status", "keys (valid now)", "added"):
        out.add_column(column, overflow="fold")
    for v in views:
        valid = [k.kid for k in v.keys if k.valid_at(now)]
        status = f"revoked {quebec_text(v.revoked_at)}" if v.revoked_at else "active"
        out.add_row(v.principal_id, v.org_id, v.role.value, v.name, status, ", ".join(valid) or "—",
                    quebec_text(v.registered_at))
    return out


def oidc_subject(engine: Any, subject: str, issuer: str | None) -> OidcIdentity:
    """`--oidc-subject SUB [--oidc-issuer URL]`: the issuer defaults to ARRIMAGE_OIDC_ISSUER."""
    found = (issuer or engine.settings.oidc_issuer).strip()
    if not found:
        raise bad_input("--oidc-subject needs --oidc-issuer or ARRIMAGE_OIDC_ISSUER")
    return OidcIdentity(issuer=found, subject=subject)


def client_cert(path: Path) -> str:
    """`--cert PEM`: the SHA-256 fingerprint of the certificate in the file."""
    from adapters.client_certs import fingerprint_pem

    try:
        return fingerprint_pem(path.read_bytes())
    except OSError as err:
        raise bad_input(f"{path}: {err.strerror or err}") from None
    except ValueError as err:
        raise bad_input(f"{path}: {err}") from None


def show_list(kind: PrincipalKind, title: str, json_out: bool) -> None:
    """`partners list` / `users list`: every principal of `kind`, as a table or JSON (key ids only)."""
    with root() as engine, reported():
        views = engine.principals.list(kind)
    if json_out:
        render.emit_json([as_json(v) for v in views])
    else:
        render.console.print(table(views, title, now()))


def issued(done: Issued, json_out: bool, verb: str) -> None:
    """The new key, once: on stdout (so it can be piped into a secret store), with what to do with it."""
    if json_out:
        render.emit_json({"principal": as_json(done.principal), "kid": done.kid, "key": done.key})
        return
    p = done.principal
    typer.echo(f"{verb} {p.kind.value} {p.principal_id} ({p.org_id}, {p.role.value}): key {done.kid}", err=True)
    typer.echo("the key below is shown once and never stored: keep it in a secret store now", err=True)
    typer.echo(done.key)

