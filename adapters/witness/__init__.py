"""A tlog witness (c2sp.org/tlog-witness) and the log's client of witnesses: the state a witness keeps, its HTTP
server, the HTTP client the log publishes with (issue 13). The protocol itself is ``domain.audit.witnessing``."""
