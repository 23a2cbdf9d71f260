"""Exports pages (blueprint ``exports`` under ``/admin``): queue, follow and download exports."""

from .views import bp

__all__ = ["bp"]
