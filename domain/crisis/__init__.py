"""Crisis cases: Info-Social or AAOR, a mobile crisis team, post-crisis follow-up, the next service.

`aggregate` (the `CrisisCase`: its methods are its events), `commands` (one typed command per
act), `model` (intake, teams, urgency, the handoff's sharing), `rules` (refusals and deadlines
from the standards), `state` (views and stages), `routing` (which teams to ask, from the
ententes in force), `handoff` (what a handoff may send of the intake, and on which basis).
The use cases are ``usecases.crisis`` and ``usecases.handoff``.
"""
