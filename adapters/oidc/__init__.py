"""The identity provider (OIDC) as the gateway reaches it: discovery, its signing keys, tokens verified."""
