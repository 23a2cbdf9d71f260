"""HTTP hardening shared by every blueprint (issue 7).

The security headers are set in one place, ``create_app``. This refuses form bodies that were
not valid UTF-8 and marks browsers that log in to the workspace as staff devices
(``public/device.py``). NUL characters are refused everywhere: PostgreSQL cannot store them,
and no browser sends them.
"""

from __future__ import annotations

from itertools import chain

from flask import Flask, abort, current_app, request

REPLACEMENT = "\ufffd"  # what the form parser puts where the bytes were not UTF-8


def init_app(app: Flask) -> None:
    """Register the hooks on ``app``."""
    from .public.device import remember_staff_devices
    remember_staff_devices(app)
    app.before_request(_refuse_nul)
    app.before_request(_refuse_broken_encoding)


def _refuse_nul() -> None:
    """NUL in the path, query or a JSON body is refused (400): PostgreSQL cannot store it."""
    if "\x00" in request.path or b"%00" in request.query_string:
        abort(400)
    if request.is_json and request.content_length and (
            b"\\u0000" in request.get_data(cache=True) or b"\x00" in request.get_data(cache=True)):
        abort(400)


def _refuse_broken_encoding() -> None:
    """A form body with invalid UTF-8 is refused (400) instead of being stored with U+FFFD."""
    if request.method != "POST" or request.mimetype not in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        return
    form = request.form
    if len(form) > current_app.config.get("MAX_FORM_FIELDS", 500):
        abort(413)  # no questionnaire has this many questions
    # Every name and value in one string (joined by a character that is neither): two scans in C.
    text = "\x01".join(chain(form.keys(), chain.from_iterable(form.listvalues())))
    if REPLACEMENT in text or "\x00" in text:
        abort(400)
