"""The supervisor's and auditor's verbs. It formats and calls clients; it does not decide."""
