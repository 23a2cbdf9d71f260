"""``/c``: a citizen types the short code printed under a QR code and lands on the form."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from ..extensions import limiter
from ..services.entry_points import resolve_typed_code

bp = Blueprint("typed", __name__)


def _typed_limit() -> str:
    """Lookups per address (``RATELIMIT_TYPED_CODE``): one typed text tries up to 256 readings,
    so without a limit /c would be a faster way to guess codes than /s/<code>."""
    return current_app.config.get("RATELIMIT_TYPED_CODE", "20/minute;200/day")


@bp.get("/c")
@limiter.limit(_typed_limit, exempt_when=lambda: not request.args.get("code", "").strip())
def enter_code():
    """Show the box for a printed code; with ``?code=`` go to that code's form."""
    typed = request.args.get("code", "")
    if not typed.strip():
        return render_template("public/code.html", typed="", error=False)
    code = resolve_typed_code(typed[:64])
    if code is None:
        return render_template("public/code.html", typed=typed[:64], error=True), 404
    return redirect(url_for("public.form", code=code), code=303)
