"""The heart of arrimage: aggregates, their events, value objects and the rules.

Nothing here imports Temporal, HTTP or a database driver; the `eventsourcing`
application classes that list use cases live beside the aggregates.
"""
