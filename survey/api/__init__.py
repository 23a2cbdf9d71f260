"""``/api/v1``: single-use QR codes for dossiers, for one-stop software (API key per unit)."""

from .views import bp

__all__ = ["bp"]
