"""The partner gateway: HTTP (FastAPI on uvicorn) in front of the same use cases and Temporal clients as the
CLI, for partner systems and people authenticated by their API keys (`usecases.principals`). An entry point:
thin, everything from the composition root (`workers.bootstrap.Root`)."""
