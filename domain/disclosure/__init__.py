"""Disclosure: who may read or receive a person's record content, on which basis, and the register of it.

Default deny (LSSSS 19 / LRSSS 5): content is read or sent only under a valid
consent (`consent.py`) or a legal basis of the allow-list (`legal_bases.py`).
`rules.decide` is the pure decision; `register.py` records every decision,
communication, emergency disclosure and refusal; `exceptions.py` computes the
auditor's exception report; `roles.py`, `model.py`, `commands.py` the words of it.
The use cases are ``usecases.disclosure``. The legal digest is
/work/shared/domain/disclosure-law.md.
"""
