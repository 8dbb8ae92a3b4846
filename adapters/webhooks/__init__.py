"""Outbound webhooks: the signing scheme, the partners' sealed secrets, the HTTP sender (issue 10)."""
