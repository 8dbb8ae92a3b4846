"""The request bodies: the same command objects as the CLI's files, minus what the principal supplies.

`by` (who acts) and `actor_org` (for which organisation) come from the API key, and `command_id` from the
workflow: a body that gives them is refused (unknown field). Each body model is derived from its command
(`without`), so the two cannot drift; the command itself is then built from the body and the principal, and
validated again with its own model's rules (byte budget, moments in order…).
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

from domain.crisis import commands as cc
from domain.ententes import commands as ec
from domain.episodes import commands as pc
from domain.principals.model import Principal

FROM_PRINCIPAL = ("by", "actor_org", "command_id")


class Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def without(model: type[BaseModel], name: str | None = None, optional: tuple[str, ...] = ()) -> type[BaseModel]:
    """`model`'s fields but those the principal supplies; `optional` ones may be left out (None)."""
    fields: dict[str, Any] = {n: (f.annotation, f) for n, f in model.model_fields.items() if n not in FROM_PRINCIPAL}
    for n in optional:
        fields[n] = (fields[n][0] | None, Field(default=None, description=fields[n][1].description))
    return create_model(name or f"{model.__name__}Body", __base__=Body, __doc__=model.__doc__, **fields)


def _members(union: Any) -> list[type[BaseModel]]:
    return list(union.__origin__.__args__)  # Annotated[A | B | …, Field(discriminator="type")]


def _union(models: list[type[BaseModel]]) -> Any:
    # `party_id` (who signs, refuses, withdraws, revokes) is the principal's organisation: it may be left out
    bodies = tuple(without(m, optional=("party_id",) if "party_id" in m.model_fields else ()) for m in models)
    return Annotated[Union[bodies], Field(discriminator="type")]  # noqa: UP007


OPEN_CASE = without(cc.OpenCase, "OpenCaseBody", optional=("case_code",))  # none: a fresh code
CASE_COMMAND: Any = TypeAdapter(_union(_members(cc.CaseCommand)))
CASE_COMMAND_REAL: Any = TypeAdapter(cc.CaseCommand)
DRAFT_ENTENTE = without(ec.DraftEntente, "DraftEntenteBody")
ENTENTE_COMMAND: Any = TypeAdapter(_union(_members(ec.EntenteCommand)))
ENTENTE_COMMAND_REAL: Any = TypeAdapter(ec.EntenteCommand)
# An épisode de services is opened by the CSSS answerable for it: its code is made when left out, and its
# `responsible_org` is the principal's organisation when left out (another one is refused `not_a_party`).
OPEN_EPISODE = without(pc.OpenEpisode, "OpenEpisodeBody", optional=("episode_code", "responsible_org"))
EPISODE_COMMAND: Any = TypeAdapter(_union(_members(pc.EpisodeCommand)))
EPISODE_COMMAND_REAL: Any = TypeAdapter(pc.EpisodeCommand)


def case_command(body: BaseModel, principal: Principal) -> cc.Command:
    command: cc.Command = CASE_COMMAND_REAL.validate_python(
        {**body.model_dump(), "by": principal.actor, "actor_org": principal.org_id})
    return command


def episode_command(body: BaseModel, principal: Principal) -> pc.Command:
    command: pc.Command = EPISODE_COMMAND_REAL.validate_python(
        {**body.model_dump(), "by": principal.actor, "actor_org": principal.org_id})
    return command


def schemas() -> dict[str, Any]:
    """The request bodies' JSON schemas, by name, for the OpenAPI document's components."""
    out: dict[str, Any] = {}
    ref = "#/components/schemas/{model}"
    for name, adapter in (("OpenCaseBody", TypeAdapter(OPEN_CASE)), ("CaseCommandBody", CASE_COMMAND),
                          ("DraftEntenteBody", TypeAdapter(DRAFT_ENTENTE)), ("EntenteCommandBody", ENTENTE_COMMAND),
                          ("OpenEpisodeBody", TypeAdapter(OPEN_EPISODE)), ("EpisodeCommandBody", EPISODE_COMMAND)):
        schema = adapter.json_schema(ref_template=ref)
        out.update(schema.pop("$defs", {}))
        out[name] = schema
    return out


def response_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out
