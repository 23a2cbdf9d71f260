"""``/c``: a citizen types the short code printed under a QR code and lands on the form."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from ..services.entry_points import resolve_typed_code

bp = Blueprint("typed", __name__)


@bp.get("/c")
def enter_code():
    """Show the box for a printed code; with ``?code=`` go to that code's form."""
    typed = request.args.get("code", "")
    if not typed.strip():
        return render_template("public/code.html", typed="", error=False)
    code = resolve_typed_code(typed[:64])
    if code is None:
        return render_template("public/code.html", typed=typed[:64], error=True), 404
    return redirect(url_for("public.form", code=code), code=303)
