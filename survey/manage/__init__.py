"""Management pages for Nội vụ admins and unit managers (blueprint ``manage``, under ``/admin``)."""

from . import campaigns, review, units  # noqa: F401  (routes register on the blueprint)
from .blueprint import bp

__all__ = ["bp"]
