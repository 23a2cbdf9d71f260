"""Use-cases. Plain functions with explicit arguments: they flush, the caller commits."""
