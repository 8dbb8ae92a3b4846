"""`adapters.temporal.client.BoundDataConverter` binds to a workflow or an activity what the SDK's own `with_context`
binds (it only skips building converters that the SDK's copy builds and then replaces)."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import BaseModel
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from adapters.temporal.client import _CONTEXT_AWARE, BoundDataConverter, data_converter
from adapters.temporal.codec import EncryptionCodec
from workers.settings import Settings

WORKFLOW = WorkflowSerializationContext(namespace="default", workflow_id="entente-E-1")
ACTIVITY = ActivitySerializationContext(
    namespace="default", workflow_id="entente-E-1", workflow_type="Entente", activity_type="entente.execute",
    activity_id="3", activity_task_queue="arrimage", is_local=False,
)


class Signature(BaseModel):
    party_id: str
    version: int


def converter() -> BoundDataConverter:
    dc = data_converter(Settings(_env_file=None, mode="development"))
    assert isinstance(dc, BoundDataConverter)
    return dc


def test_it_binds_every_part_the_sdk_binds() -> None:
    assert set(_CONTEXT_AWARE) <= {f.name for f in dataclasses.fields(DataConverter)}
    # A part the SDK would bind that this one would not (a new context-aware field in a later SDK) fails here.
    dc = converter()
    aware = {f.name for f in dataclasses.fields(dc) if isinstance(getattr(dc, f.name), WithSerializationContext)}
    assert aware <= set(_CONTEXT_AWARE) and "payload_codec" in aware


@pytest.mark.parametrize("context", [WORKFLOW, ACTIVITY], ids=["workflow", "activity"])
async def test_bound_as_the_sdk_binds_it(context: SerializationContext) -> None:
    dc = converter()
    ours, sdks = dc.with_context(context), DataConverter.with_context(dc, context)
    for name in _CONTEXT_AWARE:
        assert type(getattr(ours, name)) is type(getattr(sdks, name))
    assert isinstance(ours.payload_codec, EncryptionCodec) and isinstance(sdks.payload_codec, EncryptionCodec)
    assert ours.payload_codec.workflow_id == sdks.payload_codec.workflow_id == "entente-E-1"
    assert isinstance(dc.payload_codec, EncryptionCodec) and dc.payload_codec.workflow_id == ""  # left as it was
    # What one seals the other opens, for this workflow only.
    value = Signature(party_id="cps-laval", version=2)
    assert await sdks.decode(await ours.encode([value]), [Signature]) == [value]
    assert await ours.decode(await sdks.encode([value]), [Signature]) == [value]
    other = dc.with_context(WorkflowSerializationContext(namespace="default", workflow_id="entente-E-2"))
    with pytest.raises(ValueError, match="does not open in workflow 'entente-E-2'"):
        await other.decode(await ours.encode([value]), [Signature])
