"""The record's JSON transcoder: the library's, read with orjson and without a Python call per JSON object.

`eventsourcing.persistence.JSONTranscoder` decodes with the standard `json` module and an `object_hook`: a
Python call for every object of every event (three for a signature reminder), about half of what loading an
entente of 10,000 events cost (`benchmarks.replay`). `RecordTranscoder` writes exactly as the library does (the
stored bytes, which the hash chain covers, are unchanged) and reads the same bytes into the same values:

- orjson parses the bytes (in C, no callback), then one pass in Python turns each object shaped like the
  library's typed values (``{"_type_": name, "_data_": data}``, exactly two keys) into its value with the
  registered transcoding, children before parents, as the hook did;
- whenever the two parsers could disagree, the library's decoder reads the bytes instead and its answer (or
  its error) is the answer: orjson refuses what the standard module accepts beyond JSON (NaN, Infinity, lone
  surrogates), and reads an integer beyond 64 bits as a float, so any float met in the pass hands the bytes
  over too (a float read by both parsers would be the same, but nothing here relies on it); an unregistered
  or malformed typed value is the library's error, raised by the library's decoder.

What is kept: every byte stored by this engine or any version before it reads as it did
(`tests/integration/test_record_transcoder.py` compares both decoders on the stored rows and on the edge cases).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Transcoding, UUIDAsHex

# The library's transcodings whose `decode` is this function once its argument is known to be a string (they
# assert it, then call it): called directly, one Python frame fewer per typed value.
_DIRECT: dict[type[Transcoding], Callable[[str], Any]] = {DatetimeAsISO: datetime.fromisoformat, UUIDAsHex: UUID}


class _Unsure(Exception):
    """A value the fast reading cannot vouch for (a float): the library's decoder reads the bytes."""


class RecordTranscoder(JSONTranscoder):
    """The library's `JSONTranscoder` (same encoding, same transcodings), decoding with orjson."""

    def __init__(self) -> None:
        super().__init__()
        self.string_decoders: dict[str, Callable[[str], Any]] = {}  # name: how its transcoding reads a string

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        self.string_decoders[transcoding.name] = _DIRECT.get(type(transcoding), transcoding.decode)

    def decode(self, data: bytes) -> Any:
        try:
            value = orjson.loads(data)
            return self._object(value) if type(value) is dict else self._value(value)
        except Exception:  # orjson's refusal, a float, a typed value the library would refuse: its decoder decides
            return super().decode(data)

    def _value(self, value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            return self._object(value)
        if kind is list:
            return self._array(value)
        if kind is float:
            raise _Unsure
        return value

    def _object(self, obj: dict[str, Any]) -> Any:
        """An object, its members first (children before parents, as the library's `object_hook`)."""
        decoders = self.string_decoders
        for key, value in obj.items():  # values replaced in place: the keys (and the dict's size) never change
            kind = type(value)
            if kind is dict:
                if (
                    len(value) == 2
                    and type(name := value.get("_type_")) is str
                    and type(data := value.get("_data_")) is str
                ):
                    # A typed value of two strings (a date, a datetime, a UUID): nothing under it to convert.
                    obj[key] = decoders[name](data)
                else:
                    obj[key] = self._object(value)
            elif kind is list:
                # A list of scalars (the parties of an event…) is looked at here, without `_array`'s frame: it
                # holds nothing to convert; the first object, list or float met hands the list to `_array`.
                for item in value:
                    kind = type(item)
                    if kind is dict or kind is list or kind is float:
                        obj[key] = self._array(value)
                        break
            elif kind is float:
                raise _Unsure
        if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
            return self.names[obj["_type_"]].decode(obj["_data_"])
        return obj

    def _array(self, array: list[Any]) -> list[Any]:
        for i, value in enumerate(array):
            kind = type(value)
            if kind is dict:
                array[i] = self._object(value)
            elif kind is list:
                array[i] = self._array(value)
            elif kind is float:
                raise _Unsure
        return array
