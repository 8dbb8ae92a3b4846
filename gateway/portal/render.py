"""Pages out, forms in: Jinja2 with every value escaped, the headers every page carries, and an
`application/x-www-form-urlencoded` body read within a small budget."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway.portal import labels

HERE = Path(__file__).parent
MAX_FORM_BYTES = 16 * 1024  # a reason and a few fields: nothing a person types here comes near
# No script, no frame, no form posting elsewhere; the one stylesheet comes from here.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make the forms' Origin "null"
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                        trim_blocks=True, lstrip_blocks=True)
templates.globals.update(label=labels.label, when=labels.when, time_left=labels.time_left)
STYLESHEET = (HERE / "templates" / "portail.css").read_text(encoding="utf-8")


def page(name: str, status: int = 200, /, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status, headers=HEADERS)


def stylesheet() -> Response:
    return Response(STYLESHEET, media_type="text/css; charset=utf-8",
                    headers={**HEADERS, "Cache-Control": "max-age=3600"})


class FormTooLarge(Exception):
    pass


async def form(request: Request) -> dict[str, str]:
    """The posted fields (the first value of each), refused past MAX_FORM_BYTES."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_FORM_BYTES:
            raise FormTooLarge
    fields: dict[str, str] = {}
    for key, value in parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True):
        fields.setdefault(key, value.strip())
    return fields
