"""`arrimage partners …`: the partner organisations that call the gateway, and their API keys.

Operators run these on the server (they write to the record). A new key is printed once, on stdout; the
record keeps only its hash. `rotate-key` makes a new key and keeps the old ones valid for `--overlap`;
`revoke` refuses the partner's next request, whatever key it uses, without restarting the gateway.
`endpoint` registers where arrimage delivers the partner's webhooks and prints their signing secret once;
`rotate-secret` makes a new one and signs with both for `--overlap`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli import principals as pr
from cli import render
from cli.client import root
from cli.errors import EXIT_CODES_HELP, bad_input, reported
from cli.options import AsJson, By, who
from domain.principals.model import PrincipalKind

if TYPE_CHECKING:
    from usecases.delivery import Registered

HELP = EXIT_CODES_HELP.replace("no such entente or version", "no such partner")
app = typer.Typer(name="partners",
                  help="Partner organisations calling the gateway: add, list, rotate-key, revoke, endpoint, "
                       "rotate-secret.",
                  epilog=HELP, no_args_is_help=True)
PARTNER = PrincipalKind.PARTNER

OrgArg = Annotated[str, typer.Argument(metavar="ORG", help="The partner's organisation code, e.g. info-social-811.")]
Overlap = Annotated[str, typer.Option("--overlap", metavar="DURATION",
                                      help="How long the current keys stay valid: 90m, 24h, 7d (default 24h; 0 ends "
                                           "them now; at most 90d).")]


CertOption = Annotated[Path | None, typer.Option("--client-cert", metavar="PEM", help="Accept its keys only over a "
                                                  "connection presenting this client certificate (mutual TLS).")]


@app.command(epilog=HELP)
def add(org: OrgArg, name: Annotated[str, typer.Option("--name", help="The organisation's name.")],
        client_cert: CertOption = None, by: By = None, as_json: AsJson = False) -> None:
    """Add a partner organisation and print its first API key (once)."""
    fingerprint = pr.client_cert(client_cert) if client_cert is not None else None
    with root() as engine, reported(), pr.refusals():
        done = engine.principals.add_partner(pr.code(org), name, by=who(by), at=pr.now())
        if fingerprint is not None:
            engine.principals.bind_client_cert(done.principal.principal_id, fingerprint, by=who(by), at=pr.now())
    pr.issued(done, as_json, "added")


@app.command(epilog=HELP)
def tls(org: OrgArg,
        cert: Annotated[Path | None, typer.Option("--cert", metavar="PEM", help="The partner's client certificate.")]
        = None,
        none: Annotated[bool, typer.Option("--none", help="Accept its keys on any connection again.")] = False,
        by: By = None, as_json: AsJson = False) -> None:
    """Bind the partner's keys to its client certificate (mutual TLS): a key is then refused on a connection that
    does not present it (ARRIMAGE_GATEWAY_TLS_CLIENT_CA must have issued it)."""
    if (cert is None) == (not none):
        raise bad_input("give --cert PEM, or --none")
    fingerprint = pr.client_cert(cert) if cert is not None else None
    with root() as engine, reported(), pr.refusals():
        view = engine.principals.bind_client_cert(pr.code(org), fingerprint, by=who(by), at=pr.now())
    if as_json:
        render.emit_json(pr.as_json(view))
    elif view.client_cert:
        typer.echo(f"partner {view.principal_id}: keys accepted only with client certificate sha256 {view.client_cert}")
    else:
        typer.echo(f"partner {view.principal_id}: keys accepted on any connection")


@app.command("list", epilog=HELP)
def list_(as_json: AsJson = False) -> None:
    """Every partner, its status and the keys valid now (ids only: a key is never shown again)."""
    pr.show_list(PARTNER, "Partners", as_json)


@app.command("rotate-key", epilog=HELP)
def rotate_key(org: OrgArg, overlap: Overlap = "24h", as_json: AsJson = False) -> None:
    """A new key for the partner (printed once); its current keys stay valid for --overlap, then are refused."""
    with root() as engine, reported(), pr.refusals():
        at = pr.now()
        done = engine.principals.rotate_key(PARTNER, pr.code(org), pr.overlap(overlap, at), at=at)
    pr.issued(done, as_json, "rotated")


@app.command(epilog=HELP)
def revoke(org: OrgArg, reason: Annotated[str, typer.Option("--reason", help="Why, for the record.")],
           by: By = None, as_json: AsJson = False) -> None:
    """Revoke the partner and every key of it now: its next request is refused."""
    with root() as engine, reported(), pr.refusals():
        view = engine.principals.revoke(PARTNER, pr.code(org), reason, by=who(by), at=pr.now())
    if as_json:
        render.emit_json(pr.as_json(view))
    else:
        typer.echo(f"revoked partner {view.principal_id}: its keys are refused from now on")


@app.command(epilog=HELP)
def endpoint(
    org: OrgArg,
    url: Annotated[str, typer.Option("--url", help="Where its webhooks are POSTed: https:// (http to this machine).")],
    rotate_secret: Annotated[bool, typer.Option("--rotate-secret", help="A new signing secret (printed once); the "
                                                                        "old one stops signing at once.")] = False,
    by: By = None, as_json: AsJson = False,
) -> None:
    """Register the partner's webhook endpoint (its signing secret printed once), change its URL, or rotate it."""
    with root() as engine, reported(), pr.refusals():
        done = engine.deliveries.register(pr.code(org), url, rotate_secret=rotate_secret, by=who(by), at=pr.now())
    _endpoint_shown(done, as_json)


@app.command("rotate-secret", epilog=HELP)
def rotate_secret(org: OrgArg, overlap: Overlap = "24h", by: By = None, as_json: AsJson = False) -> None:
    """A new webhook signing secret (printed once); until --overlap ends, deliveries are signed with both."""
    with root() as engine, reported(), pr.refusals():
        at = pr.now()
        done = engine.deliveries.rotate_secret(pr.code(org), pr.overlap(overlap, at), by=who(by), at=at)
    _endpoint_shown(done, as_json)


def _endpoint_shown(done: Registered, as_json: bool) -> None:
    view = done.endpoint
    if as_json:
        render.emit_json({"endpoint": view.model_dump(mode="json"), "secret": done.secret})
        return
    typer.echo(f"endpoint of {view.org_id}: {view.url} (secret {view.secret_id})", err=True)
    if view.previous_secret_id is not None and view.previous_until is not None:
        typer.echo(f"secret {view.previous_secret_id} also signs until {view.previous_until.isoformat()}", err=True)
    if done.secret is not None:
        typer.echo("the signing secret below is shown once: keep it in the partner's secret store now", err=True)
        typer.echo(done.secret)
