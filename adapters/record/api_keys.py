"""API keys as the record keeps them: made with `secrets`, stored only as a scrypt hash.

A key is `ark_<kid>_<secret>`: `kid` (12 hex digits) names the key in the record and the logs, `secret`
(`secrets.token_urlsafe(32)`, 256 bits) is shown once and never stored. The record keeps
`scrypt$<n>$<r>$<p>$<salt>$<digest>` (hashlib.scrypt, the standard library's maintained KDF; a 16-byte salt
per key), so a copy of the database yields no usable key.

scrypt costs about 50 ms a check by design; a gateway checks a key on every request, so a check that
succeeded is remembered for this process as an HMAC of the key under a per-process secret (never the key) next
to the hash it matched. Revocation and rotation are not cached: they are read from the record on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections import OrderedDict
from threading import Lock

from domain.principals.model import KEY_PREFIX, Unauthenticated

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1  # OWASP's minimum for scrypt (16 MiB)
KEY_RE = re.compile(rf"^{KEY_PREFIX}_(?P<kid>[0-9a-f]{{12}})_(?P<secret>[A-Za-z0-9_-]{{43}})$")
REMEMBERED = 10_000  # checks kept per process


def new_key() -> tuple[str, str]:
    """(kid, the whole key): shown once to whoever asked for it."""
    kid = secrets.token_hex(6)
    return kid, f"{KEY_PREFIX}_{kid}_{secrets.token_urlsafe(32)}"


def kid_of(token: str) -> str:
    """The key id a presented key names; `Unauthenticated` when it is not shaped like one of ours."""
    found = KEY_RE.match(token)
    if found is None:
        raise Unauthenticated("not an arrimage API key")
    return found.group("kid")


def _b64(raw: bytes) -> str:
    return urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(token: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(token.encode(), salt=salt, n=n, r=r, p=p, maxmem=128 * r * n * p + 2**20, dklen=32)


def hash_key(token: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(token, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


class KeyHasher:
    """Hashes new keys and checks presented ones, remembering the checks that succeeded (see the module)."""

    def __init__(self) -> None:
        self._pepper = secrets.token_bytes(32)  # this process's only: what it remembers means nothing elsewhere
        self._matched: OrderedDict[bytes, str] = OrderedDict()
        self._lock = Lock()
        self.kdf_runs = 0  # how many times scrypt ran (measured by the tests and the benchmark)

    def hash(self, token: str) -> str:
        return hash_key(token)

    def verify(self, token: str, stored: str) -> bool:
        mark = hmac.new(self._pepper, token.encode(), hashlib.sha256).digest()
        with self._lock:
            if self._matched.get(mark) == stored:
                self._matched.move_to_end(mark)
                return True
        try:
            scheme, n, r, p, salt, digest = stored.split("$")
            ok = scheme == "scrypt" and hmac.compare_digest(
                _scrypt(token, _unb64(salt), int(n), int(r), int(p)), _unb64(digest))
        except ValueError:
            return False
        self.kdf_runs += 1
        if ok:
            with self._lock:
                self._matched[mark] = stored
                while len(self._matched) > REMEMBERED:
                    self._matched.popitem(last=False)
        return ok
