"""The workspace navigation: links shown to a role, skipping pages not (yet) registered.

Blueprints of other areas add their entry here (endpoint, label, roles); an endpoint that does not
exist in the running app is simply not shown, so the list can name pages still being built.
"""

from __future__ import annotations

from flask import current_app, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

MANAGERS = ("admin", "unit_manager")
ALL = ("admin", "unit_manager", "counter_staff")

NAV = [
    ("admin.index", _l("Tiến độ"), MANAGERS),
    ("results.index", _l("Kết quả"), MANAGERS),
    ("manage.units", _l("Đơn vị"), MANAGERS),
    ("manage.counters", _l("Quầy"), MANAGERS),
    ("manage.fields", _l("Lĩnh vực"), MANAGERS),
    ("manage.campaigns", _l("Đợt khảo sát"), MANAGERS),
    ("manage.population", _l("Số hồ sơ"), MANAGERS),
    ("manage.review", _l("Duyệt phiếu"), MANAGERS),
    ("manage.audit", _l("Nhật ký"), ("admin",)),
    ("admin.users", _l("Tài khoản"), MANAGERS),
    ("apikeys.index", _l("Khoá API"), ("admin",)),
    ("staff.index", _l("Mã QR"), ALL),
    ("paper.index", _l("Phiếu giấy"), ALL),
]

# Pages that belong to a nav entry without being its endpoint (marked as the current area).
ALSO_CURRENT = {
    "admin.index": ("admin.progress",),
    "results.index": ("results.campaign",),
    "admin.users": ("admin.user_new", "admin.user_detail"),
}


def workspace_nav() -> list[dict]:
    """The links the current user may follow, the current area marked."""
    if not current_user.is_authenticated:
        return []
    here = request.endpoint or ""
    items = []
    for endpoint, label, roles in NAV:
        view = current_app.view_functions.get(endpoint)
        if view is None or current_user.role not in roles:
            continue
        if current_user.role not in getattr(view, "allowed_roles", roles):
            continue  # never a link that answers 403
        current = here == endpoint or here in ALSO_CURRENT.get(endpoint, ())
        items.append({"url": url_for(endpoint), "label": label, "current": current})
    return items


def other_language_url(lang: str) -> str:
    """The current page in the other language (``?lang=``; remembered in a cookie)."""
    args = {**(request.view_args or {}), **request.args.to_dict()}
    args["lang"] = "en" if lang == "vi" else "vi"
    if request.endpoint is None:
        return "?lang=" + args["lang"]
    return url_for(request.endpoint, **args)
