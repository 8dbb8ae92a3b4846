"""The processes: readable as the seeds' trajectories; no I/O, no clock but `workflow.now()`."""
