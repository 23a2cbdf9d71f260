"""Kiosk mode: ``/k/<code>`` on a tablet at a counter, and the staff pages that make kiosk links.

Two blueprints: ``kiosk`` (public, its own signed token instead of CSRF, JSON for the queue) and
``kiosk_staff`` (under ``/staff``, CSRF-protected forms, scoped like every staff page).
"""

from __future__ import annotations

import os

from flask import Flask

from ..services.kiosk import DEFAULTS
from .staff import bp as staff_bp
from .views import bp

__all__ = ["bp", "init_app", "staff_bp"]


def init_app(app: Flask) -> None:
    """Register both blueprints; settings from ``SIPAS_KIOSK_*`` unless the app config has them."""
    for key, default in DEFAULTS.items():
        value = os.environ.get(f"SIPAS_{key}")
        app.config.setdefault(key, type(default)(value) if value else default)
    from ..extensions import csrf
    app.register_blueprint(bp)
    csrf.exempt(bp)  # the kiosk token and an Origin check stand in for CSRF (see tokens.py)
    app.register_blueprint(staff_bp)
