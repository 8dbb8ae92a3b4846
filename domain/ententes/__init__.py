"""Ententes: collaboration, service and framework agreements between a CISSS/CSSS and its partners."""
