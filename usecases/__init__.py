"""The use cases: application services over the legal record.

Each one loads aggregates from a `Record`, calls the domain, and saves: no business
rule lives here (those are in ``domain``), no engine or process is built here (that is
the composition root's job). Activities, the CLI and the tests call them.

- ``ententes``: draft, sign, activate, review, amend, renew, revoke an entente.
- ``crisis``: open, route, hand off, follow up and close a crisis case.
- ``handoff``: the sending step of a crisis handoff (what may be disclosed, recorded
  in the disclosure register before it leaves).
- ``disclosure``: consents, access decisions and the disclosure register.
- ``audit``: verify, checkpoint and shred the record; replay an aggregate as of a moment.
"""
