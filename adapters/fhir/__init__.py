"""FHIR R4 resources built from the pure mapping of `domain.fhir` and validated by `fhir.resources` (its R4B
models: R4's Task, ServiceRequest, Consent, Bundle, OperationOutcome and CapabilityStatement are unchanged in
R4B, and fhir.resources has no R4 package since 7.0)."""
