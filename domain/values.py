"""The value types every boundary shares: codes, text, moments, sizes.

A command arrives from a CLI file, a workflow input or (later) an HTTP body; each
of them is parsed into these types, so malformed input is refused once, at the
edge, with one message per field, before anything is recorded or sent to Temporal.

- Codes are identities: one thing has one spelling. Entente and case codes are
  upper-case (`ENT-LAV-2026-01`, `C-…`), organisation, party, team and territory
  codes lower-case (`cisss-laval`); input in another case is normalised, so
  `ent-lav-2026-01` and `ENT-LAV-2026-01` are the same entente.
- Text never carries control characters (a terminal escape sequence in a title
  would rewrite a supervisor's screen) nor bidirectional overrides (which make
  text read differently from what is stored). Long text may hold line breaks
  and tabs; short text (names, titles, `--by`) may not.
- Moments carry a time zone (a naive moment means something different on every
  machine) and are normalised to UTC. Whether a moment is *plausible* for the
  case at hand (not before it could exist, not after now plus a skew) is a rule,
  decided in each aggregate's rules with the command's own moment.
- A command has a byte budget (`MAX_COMMAND_BYTES`), well under Temporal's 2 MB
  payload limit, so an oversized document is refused before it is recorded.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StringConstraints

# The whole JSON of one command (an entente version with its annexes is the largest).
MAX_COMMAND_BYTES = 256 * 1024

# C0 controls except tab and line feed (and carriage return, kept only in long text),
# DEL, C1 controls, and the bidirectional formatting characters (Trojan-source style).
_CONTROL_LONG = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_SHORT = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")

# The earliest and latest moments any record of arrimage can hold: far outside them, a moment is
# a typing error (1999, 20260) whatever the rule at hand.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _no_control(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        found = pattern.search(value)
        if found:
            raise ValueError(f"{what} may not contain control characters (found U+{ord(found.group()):04X})")
        return value

    return check


def _case(upper: bool) -> Any:
    def normalise(value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value.upper() if upper else value.lower()
        return value

    return normalise


def _utc(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"{value.isoformat()} is not a plausible moment (expected 2000–2099)")
    return value.astimezone(UTC)


Code = Annotated[
    str, BeforeValidator(_case(upper=False)), StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
]
"""An organisation, party, team, territory or program code: lower-case, normalised."""

OpaqueId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
"""An identifier another system gives (a subject id, a consent form number): kept exactly as given."""

EntenteCode = Annotated[
    str, BeforeValidator(_case(upper=True)), StringConstraints(pattern=r"^[A-Z0-9][A-Z0-9._-]{0,63}$")
]
"""An entente's code (its identity, `ENT-LAV-2026-01`): upper-case, normalised."""

Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
    AfterValidator(_no_control(_CONTROL_LONG, "text")),
]
ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=300),
    AfterValidator(_no_control(_CONTROL_SHORT, "a name or title")),
]

Moment = Annotated[AwareDatetime, AfterValidator(_utc)]
"""An instant given by a caller: with its time zone, between 2000 and 2099, kept in UTC."""


def _plausible_day(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError(f"{value.isoformat()} is not a plausible date (expected 2000–2099)")
    return value


Day = Annotated[date, AfterValidator(_plausible_day)]
"""A civil date given by a caller (an effective date, an end date): between 2000 and 2099."""


def command_size(data: Any) -> int:
    """Bytes of a command's JSON, as it would travel to Temporal and into the record."""
    return len(json.dumps(data, ensure_ascii=False, default=str).encode())


def check_command_size(data: Any) -> None:
    size = command_size(data)
    if size > MAX_COMMAND_BYTES:
        raise ValueError(
            f"the command is {size:,} bytes; the limit is {MAX_COMMAND_BYTES:,} bytes ({MAX_COMMAND_BYTES // 1024} KiB)"
        )
