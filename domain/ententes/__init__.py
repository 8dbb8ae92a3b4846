"""Ententes: collaboration, service and framework ententes between a CISSS/CSSS and its partners.

`aggregate` (the `Entente`, and the registration of the topics it was stored under as
``domain.agreements``), `model` (the content of a version), `commands`, `rules` (who may do
what when, and the calendar's due acts), `state` (views and the policy), `diff` (between two
versions). The use cases are ``usecases.ententes``.
"""
