"""Temporal, as every process reaches it: one connection and data converter (`client`), the payload
codec (`codec`), commands sent as updates with retries (`updates`), and typed clients for the entente's
and the crisis case's workflows (`ententes`, `cases`): send a command, open with update-with-start,
query a workflow, list from visibility. Failures are the exceptions of `errors`, worded by the caller.
"""
