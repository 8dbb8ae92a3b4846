"""The directory of services of the local network (issue 11; seed 002 L403-437)."""
