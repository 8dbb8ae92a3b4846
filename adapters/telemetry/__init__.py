"""Observability: spans around what the engine does (`spans`), its own metrics (`metrics`), and the Temporal
SDK's metrics with the exporters the settings name (`runtime`). Nothing here carries personal content: span
and metric attributes are kinds, stages, standards and outcomes, never an id of a person, a case or a text."""
