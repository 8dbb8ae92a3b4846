"""Principals: who calls the engine through the gateway (a partner organisation's system, a person), with
the API keys that prove it. The domain keeps key ids and key hashes only; making and checking hashes is an
adapter's concern (`adapters.record.api_keys`)."""
