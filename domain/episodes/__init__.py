"""Épisodes de services: the AAOR and the psychosocial and psychological consultations as processes.

The services sociaux généraux of seed 001: the AAOR (accueil, analyse, orientation et référence, L681-800;
a problem solved in at most three meetings, L721-723) and the consultation sociale (L1420-1510) and
consultation psychologique (L1660-1760), short approaches of at most 12 meetings, beyond which the
intervention plan (PI) is revised (L1423-1426, L1671-1674), with their access standards: first contact
within 7 days and follow-up started within 30 days of the acceptance of the request, an urgent situation
within 24 hours (L1485-1493, L1731-1739).

`model` (services, meeting modes, codes), `commands` (one typed command per act), `state` (the view and its
clocks, as compliance observations), `rules` (refusals and clocks from the standards configuration),
`aggregate` (the `ServiceEpisode`: its methods are its events). The use cases are ``usecases.episodes``.
"""
