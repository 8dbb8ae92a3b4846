"""A person's way in (issue 10): the gateway's `/v1` API over HTTP, with their token; never the record, never
Temporal. `arrimage` uses it when ARRIMAGE_API_URL is set (`workers.bootstrap.Root.gateway`).

`client.GatewayClient` loads httpx: import it where it is used (every CLI command loads `errors`)."""

from adapters.gateway_client.errors import GatewayProblem, GatewayUnreachable, ProblemField

__all__ = ["GatewayProblem", "GatewayUnreachable", "ProblemField"]
