"""``/staff/paper``: print paper questionnaires, type them in (once or twice), import typed files."""

from . import imports  # noqa: F401  (the import page, on the same blueprint)
from .views import bp

__all__ = ["bp"]
