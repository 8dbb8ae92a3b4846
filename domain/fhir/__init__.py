"""Handoffs and personalised referrals as HL7 FHIR R4 Task and ServiceRequest, pure: the Task state machine of
the Gravity SDOH Clinical Care IG (`task_states`), and what a case's view says of each Task (`tasks`). The
resources themselves are built and validated by `adapters.fhir`."""
