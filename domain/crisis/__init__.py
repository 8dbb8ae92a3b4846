"""Crisis cases: Info-Social or AAOR, a mobile crisis team, post-crisis follow-up, the next service."""
