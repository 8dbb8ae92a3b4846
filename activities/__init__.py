"""The only code Temporal calls that touches the outside world (the event store, partners)."""
