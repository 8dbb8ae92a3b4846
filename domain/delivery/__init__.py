"""Outbound delivery: partners' registered endpoints and the log of what was delivered to them (issue 10)."""
