"""`arrimage` on a person's machine (issue 10): with ARRIMAGE_API_URL and ARRIMAGE_TOKEN set, the commands a
supervisor or an auditor gives as a person (`cases`, `ententes`, `audit replay|register`) go through the gateway
(`adapters.gateway_client`), and the token says who acts and reads: its person, organisation and role. This
machine opens neither the record nor Temporal and holds no key.

Options that declare an identity (`--by`, `--org`, `--role`, `--facts`, or ARRIMAGE_USER, ARRIMAGE_ORG,
ARRIMAGE_ROLE) are refused with the gateway: a role or an organisation typed on a command line is what the
gateway exists to stop trusting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from typer._click.core import ParameterSource
from typer._click.globals import get_current_context

from cli.errors import CliError, bad_input, invalid, refused
from domain.disclosure.roles import Role
from domain.principals.model import PrincipalKind
from workers.bootstrap import Root

if TYPE_CHECKING:
    from adapters.gateway_client.client import GatewayClient

# The identity options, by parameter name: how each is typed, and the variable that can give it.
IDENTITY = {"by": ("--by", "ARRIMAGE_USER"), "actor": ("--by", "ARRIMAGE_USER"), "org": ("--org", "ARRIMAGE_ORG"),
            "role": ("--role", "ARRIMAGE_ROLE"), "facts": ("--facts", None)}
FROM_TOKEN = ("by", "actor_org", "command_id")  # what a command's body never gives: the gateway fills it in
TOKEN_SAYS = ("the token says who you are (ARRIMAGE_TOKEN): leave out --by, --org, --role and --facts, and "
              "unset ARRIMAGE_USER, ARRIMAGE_ORG and ARRIMAGE_ROLE, when working through the gateway")


class Me(BaseModel):
    principal_id: str
    org_id: str
    role: Role
    kind: PrincipalKind


def through(engine: Root) -> GatewayClient | None:
    """The gateway, when this machine works through it (ARRIMAGE_API_URL), after refusing the identity options
    the command was given (exit 2); None: the command reads and acts on the record itself (development)."""
    gateway = engine.gateway
    if gateway is None:
        return None
    given = identity_given()
    if given:
        raise refused("identity_from_token", f"{', '.join(given)}: {TOKEN_SAYS}")
    return gateway


def identity_given() -> list[str]:
    """The identity options of the running command that were given, as given (the option, or its variable)."""
    ctx = get_current_context(silent=True)
    if ctx is None:
        return []
    found: list[str] = []
    for name, (option, variable) in IDENTITY.items():
        if ctx.params.get(name) is None:
            continue
        source = ctx.get_parameter_source(name)
        said = variable if source is ParameterSource.ENVIRONMENT and variable else option
        if said not in found:
            found.append(said)
    return found


def me(gateway: GatewayClient) -> Me:
    """Who the token names (`GET /v1/me`)."""
    return Me.model_validate(gateway.get("/v1/me"))


def no_identity_in(data: dict[str, Any], what: str) -> dict[str, Any]:
    """A command file sent through the gateway: one naming who acts (`by`, `actor_org`) is refused (exit 2)."""
    named = [f for f in ("by", "actor_org") if f in data]
    if named:
        raise refused("identity_from_token", f"{what} gives {', '.join(named)}: {TOKEN_SAYS}")
    return data


def body(model: type[BaseModel], fields: dict[str, Any], who: Me, names: dict[str, str] | None = None,
         *, actor_org: bool = True) -> dict[str, Any]:
    """A command built here in the token's identity, so that its invalid fields are named as the options that
    set them (exit 2, nothing sent); the body sent leaves out what the gateway takes from the token."""
    given = {**fields, "by": who.principal_id, **({"actor_org": who.org_id} if actor_org else {})}
    try:
        cmd = model.model_validate(given)
    except ValidationError as err:
        raise invalid(err, names) from None
    return cmd.model_dump(mode="json", exclude=set(FROM_TOKEN))


def not_served(what: str) -> CliError:
    return bad_input(f"{what} is not served by the gateway yet (ask an operator on the server)")
