"""The processes of arrimage and their wiring: settings, logging, tracing, the worker, the embedded stack."""
