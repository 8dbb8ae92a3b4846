"""The hosted portal for partners without a system of their own (issue 10; the Gravity SDOH IG's "light"
recipient): server-rendered French pages and plain HTML forms under `/portail`, over the same case and
entente commands as the API. `Portal(root).router()` is mounted by `gateway.app.create_app`."""

from gateway.portal.pages import Portal

__all__ = ["Portal"]
