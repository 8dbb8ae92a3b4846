"""The portal's sessions: kept on the server, named to the browser by a signed random id.

The cookie holds only `<id>.<HMAC of the id>` (HttpOnly, SameSite=Strict, Secure outside development mode):
nothing a browser or a proxy could read of who is signed in. A session ends after `idle` without a request,
or `absolute` after sign-in whatever the activity, or at sign-out; each has its own CSRF token that every form
carries back. Signing in replaces the anonymous session of the sign-in form by a new one (a session id known
before sign-in is never the signed-in one).

Sessions live in this process's memory: a restart signs everyone out, and several gateway processes behind
a balancer would need sticky sessions or a shared store (the same limit as `guard.Buckets`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from domain.principals.model import Principal

PREFIX = "/portail"  # the portal's path, and its cookie's
COOKIE = "arrimage_portail"
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=8)
MAX_SESSIONS = 10_000  # anonymous sign-in forms included: the oldest go first past this


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Session:
    sid: str
    csrf: str
    created_at: datetime
    seen_at: datetime
    principal: Principal | None = None  # None: the sign-in form's session, nobody signed in
    notice: str | None = None  # one message for the next page (after a redirect): done…
    alert: str | None = None  # … or refused

    def take_messages(self) -> dict[str, str | None]:
        out = {"notice": self.notice, "alert": self.alert}
        self.notice = self.alert = None
        return out


@dataclass
class Sessions:
    idle: timedelta = IDLE
    absolute: timedelta = ABSOLUTE
    clock: Callable[[], datetime] = _now
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    _by_id: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def new(self, principal: Principal | None = None) -> Session:
        at = self.clock()
        session = Session(sid=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), created_at=at, seen_at=at,
                          principal=principal)
        with self._lock:
            self._sweep(at)
            self._by_id[session.sid] = session
        return session

    def find(self, cookie: str | None) -> Session | None:
        """The live session the cookie names (its idle clock restarted), or None: no cookie, a forged or
        unknown id, or a session past its idle or absolute limit (then ended)."""
        sid = self._verified(cookie)
        if sid is None:
            return None
        at = self.clock()
        with self._lock:
            session = self._by_id.get(sid)
            if session is None:
                return None
            if self.expired(session, at):
                del self._by_id[sid]
                return None
            session.seen_at = at
            return session

    def expired(self, session: Session, at: datetime) -> bool:
        return at - session.seen_at >= self.idle or at - session.created_at >= self.absolute

    def end(self, session: Session) -> None:
        with self._lock:
            self._by_id.pop(session.sid, None)

    def cookie(self, session: Session) -> str:
        return f"{session.sid}.{self._sign(session.sid)}"

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(session.csrf.encode(), given.encode())

    def _sign(self, sid: str) -> str:
        mac = hmac.new(self.secret, sid.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def _verified(self, cookie: str | None) -> str | None:
        if not cookie or cookie.count(".") != 1:
            return None
        sid, sig = cookie.split(".")
        return sid if hmac.compare_digest(sig.encode(), self._sign(sid).encode()) else None

    def _sweep(self, at: datetime) -> None:
        """Drop the expired sessions; past MAX_SESSIONS, the least recently seen (held under the lock)."""
        for sid in [s.sid for s in self._by_id.values() if self.expired(s, at)]:
            del self._by_id[sid]
        if len(self._by_id) >= MAX_SESSIONS:
            oldest = sorted(self._by_id.values(), key=lambda s: (s.principal is not None, s.seen_at))
            for s in oldest[: len(self._by_id) - MAX_SESSIONS + 1]:
                del self._by_id[s.sid]
