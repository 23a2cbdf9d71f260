"""Public pages: the citizen's form at /s/<code>."""
