"""``/staff``: counter staff print QR material and see scan and response counts (never answers).

Also ``/admin/api-keys`` (admins manage the API keys of one-stop software), in ``api_keys.py``.
"""

from .api_keys import bp as api_keys_bp
from .views import bp

__all__ = ["api_keys_bp", "bp"]
