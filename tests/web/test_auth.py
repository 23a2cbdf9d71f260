"""Accounts: login, no user enumeration, throttling, password policy, change/reset, CLI."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import AuditLog, User
from tests.web.workspace_support import PASSWORD, login, make_unit, make_user, token_of


@pytest.fixture
def people(app):
    """A city with two wards; an admin of the city, a manager and a counter clerk of ward 1."""
    with app.app_context():
        city = make_unit("C", "Thành phố Thử", "city")
        w1 = make_unit("W1", "Phường 1", parent=city)
        w2 = make_unit("W2", "Phường 2", parent=city)
        make_user("noivu", "admin", city)
        make_user("truong.w1", "unit_manager", w1)
        make_user("quay.w1", "counter_staff", w1)
        make_user("truong.w2", "unit_manager", w2)
        db.session.commit()
        return {"city": city.id, "w1": w1.id, "w2": w2.id}


def test_login_lands_on_the_dashboard_and_logout_needs_post(client, people):
    response = login(client, "noivu")
    assert response.status_code == 302 and response.location.endswith("/admin/")
    page = client.get("/admin/")
    assert page.status_code == 200 and "noivu" in page.get_data(as_text=True)
    assert client.get("/logout").status_code == 405  # a link or an <img> cannot log anyone out
    html = page.get_data(as_text=True)
    out = client.post("/logout", data={"csrf_token": token_of(html)})
    assert out.status_code == 302 and "/login" in out.location
    assert client.get("/admin/").status_code == 302


def test_login_without_csrf_token_is_refused(client, people):
    response = client.post("/login", data={"username": "noivu", "password": PASSWORD})
    assert response.status_code in (400, 401)
    assert client.get("/admin/").status_code == 302


def test_login_username_is_case_insensitive_and_next_stays_on_site(client, people):
    page = client.get("/login?next=/admin/")
    token = token_of(page.get_data(as_text=True))
    ok = client.post("/login?next=/admin/", data={"csrf_token": token, "username": " NoiVu ",
                                                  "password": PASSWORD})
    assert ok.status_code == 302 and ok.location.endswith("/admin/")
    client.post("/logout", data={"csrf_token": token_of(client.get("/admin/").get_data(as_text=True))})
    page = client.get("/login")
    evil = client.post("/login?next=//evil.example/x", data={
        "csrf_token": token_of(page.get_data(as_text=True)), "username": "noivu", "password": PASSWORD})
    assert evil.status_code == 302 and "evil" not in evil.location


REFUSED = "Tên đăng nhập hoặc mật khẩu không đúng"


def _body_without_token(response) -> str:
    """The page with the per-session CSRF token blanked out."""
    import re
    return re.sub(r'value="[^"]{30,}"', 'value=""', response.get_data(as_text=True))


def test_unknown_user_and_wrong_password_get_the_same_answer(app, people, monkeypatch):
    import survey.services.users as users
    hashed = []
    real = users.check_password_hash
    monkeypatch.setattr(users, "check_password_hash", lambda h, p: hashed.append(h) or real(h, p))
    a, b = app.test_client(), app.test_client()
    unknown = login(a, "khong.ton.tai", "Mật khẩu bất kỳ dài")
    wrong = login(b, "noivu", "Mật khẩu bất kỳ dài")
    assert unknown.status_code == wrong.status_code == 401
    assert REFUSED in unknown.get_data(as_text=True)
    assert (_body_without_token(unknown).replace("khong.ton.tai", "NAME")
            == _body_without_token(wrong).replace("noivu", "NAME"))
    # The unknown name still cost one hash of the same kind as a real one (no timing shortcut).
    with app.app_context():
        real_hash = db.session.scalar(select(User.password_hash).filter_by(username="noivu"))
    assert len(hashed) == 1 and hashed[0].split("$")[0] == real_hash.split("$")[0]


def test_account_locks_after_five_failures_then_unlocks(app, client, people):
    from datetime import UTC, datetime, timedelta

    from survey.services.users import LOCKOUT, MAX_FAILED_LOGINS, authenticate
    for _ in range(MAX_FAILED_LOGINS):
        assert login(client, "truong.w1", "không phải mật khẩu").status_code == 401
    locked = login(client, "truong.w1", PASSWORD)  # the right password, but locked
    assert locked.status_code == 401 and REFUSED in locked.get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(select(User).filter_by(username="truong.w1"))
        assert user.locked_until is not None
        assert db.session.scalar(select(AuditLog.action).filter_by(action="user.locked")) == "user.locked"
        later = datetime.now(UTC) + LOCKOUT + timedelta(seconds=1)
        assert authenticate("truong.w1", PASSWORD, now=later).user is not None
        db.session.commit()
        assert user.failed_logins == 0 and user.locked_until is None


def test_success_resets_the_failure_count(app, client, people):
    from survey.services.users import MAX_FAILED_LOGINS
    for _ in range(MAX_FAILED_LOGINS - 1):
        login(client, "quay.w1", "sai")
    assert login(client, "quay.w1").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(User.failed_logins).filter_by(username="quay.w1")) == 0


def test_login_posts_are_limited_per_address(app, people):
    from survey import create_app
    limited = create_app({"TESTING": True, "SECRET_KEY": app.config["SECRET_KEY"],
                          "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                          "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://",
                          "LOGIN_RATE_LIMIT": "3 per minute"})
    client = limited.test_client()
    try:
        assert login(client, "noivu").status_code == 302  # successes do not count
        client = limited.test_client()
        for name in ("a.b", "c.d", "noivu"):  # different names, same address
            assert login(client, name, "sai mật khẩu").status_code == 401
        assert login(client, "noivu").status_code == 429  # even the right password now waits
        assert limited.test_client().get("/login").status_code == 200  # the form itself is not limited
    finally:
        with limited.app_context():
            db.engine.dispose()


def test_deactivated_user_cannot_log_in_and_loses_the_session(app, client, people):
    assert login(client, "quay.w1").status_code == 302
    with app.app_context():
        db.session.scalar(select(User).filter_by(username="quay.w1")).active = False
        db.session.commit()
    assert client.get("/account/password").status_code == 302  # back to the login page
    assert login(app.test_client(), "quay.w1").status_code == 401


@pytest.mark.parametrize("password, ok", [
    ("ngắn", False),
    ("123456789012", False),
    ("19900101", False),
    ("20261122194501", False),  # digits only
    ("abcdefghijklmn", False),  # a run along the alphabet
    ("password123456", False),  # a common password with digits added
    ("matkhau@2026!!", False),
    ("aaaaaaaaaaaaaaa", False),
    ("noivu-mat-khau-dai", False),  # contains the username
    ("Sông Tiền chảy qua Sa Đéc", True),
    ("hoa-sen-dong-thap-42", True),
])
def test_password_policy(app, password, ok):
    from survey.services.users import password_problems
    with app.test_request_context():
        assert (password_problems(password, username="noivu") == []) is ok


def test_common_password_list_is_shipped_in_the_package():
    from survey.services.users import common_passwords
    words = common_passwords()
    assert len(words) > 200 and "123456" in words and "matkhau" in words


def _change(client, current, new, confirm=None):
    page = client.get("/account/password")
    return client.post("/account/password", data={
        "csrf_token": token_of(page.get_data(as_text=True)), "current": current, "new": new,
        "confirm": new if confirm is None else confirm})


def test_change_own_password(app, people):
    me, elsewhere = app.test_client(), app.test_client()
    login(me, "truong.w1")
    login(elsewhere, "truong.w1")
    wrong = _change(me, "sai", "Một mật khẩu mới thật dài")
    assert wrong.status_code == 422 and "Mật khẩu hiện tại không đúng" in wrong.get_data(as_text=True)
    weak = _change(me, PASSWORD, "qwerty123456")
    assert weak.status_code == 422 and "quá phổ biến" in weak.get_data(as_text=True)
    mismatch = _change(me, PASSWORD, "Một mật khẩu mới thật dài", "khác")
    assert mismatch.status_code == 422 and "không khớp" in mismatch.get_data(as_text=True)
    done = _change(me, PASSWORD, "Một mật khẩu mới thật dài")
    assert done.status_code == 302
    assert me.get("/admin/").status_code == 200  # this session continues
    assert elsewhere.get("/admin/").status_code == 302  # the other one ended
    assert login(app.test_client(), "truong.w1").status_code == 401
    assert login(app.test_client(), "truong.w1", "Một mật khẩu mới thật dài").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(AuditLog.action).filter_by(action="user.password_changed"))


def _user_id(app, username):
    with app.app_context():
        return db.session.scalar(select(User.id).filter_by(username=username))


def _reset(client, user_id, password):
    page = client.get(f"/admin/users/{user_id}")
    token = token_of(page.get_data(as_text=True)) if page.status_code == 200 else token_of(
        client.get("/admin/users").get_data(as_text=True))
    return client.post(f"/admin/users/{user_id}/password",
                       data={"csrf_token": token, "password": password, "confirm": password})


def test_admin_resets_a_password_in_the_subtree(app, people):
    target = _user_id(app, "truong.w1")
    victim_session = app.test_client()
    login(victim_session, "truong.w1")
    admin = app.test_client()
    login(admin, "noivu")
    assert _reset(admin, target, "ngắn").status_code == 422
    done = _reset(admin, target, "Đặt lại bởi Nội vụ 2026")
    assert done.status_code == 302
    assert victim_session.get("/admin/").status_code == 302
    assert login(app.test_client(), "truong.w1", "Đặt lại bởi Nội vụ 2026").status_code == 302
    with app.app_context():
        entry = db.session.scalar(select(AuditLog).filter_by(action="user.password_reset"))
        assert entry.actor == "noivu" and entry.object_id == str(target)


def test_only_admins_reset_and_only_inside_their_subtree(app, people):
    manager = app.test_client()
    login(manager, "truong.w1")
    assert _reset(manager, _user_id(app, "quay.w1"), "Mật khẩu mới dài dài").status_code == 403
    with app.app_context():
        w2 = db.session.get(__import__("survey.models", fromlist=["Unit"]).Unit, people["w2"])
        make_user("noivu.w2", "admin", w2)
        db.session.commit()
    other_admin = app.test_client()
    login(other_admin, "noivu.w2")
    refused = _reset(other_admin, _user_id(app, "truong.w1"), "Mật khẩu mới dài dài")
    assert refused.status_code == 404
    assert login(app.test_client(), "truong.w1").status_code == 302  # unchanged


def _create(client, **fields):
    page = client.get("/admin/users/new")
    data = {"csrf_token": token_of(page.get_data(as_text=True)), "full_name": "",
            "password": "Quầy một cửa số một", "confirm": "Quầy một cửa số một", **fields}
    return client.post("/admin/users/new", data=data)


def test_manager_creates_counter_staff_in_own_subtree_only(app, people):
    manager = app.test_client()
    login(manager, "truong.w1")
    assert _create(manager, username="quay2.w1", role="counter_staff",
                   unit_id=people["w1"]).status_code == 302
    assert _create(manager, username="sep.w1", role="admin", unit_id=people["w1"]).status_code == 422
    assert _create(manager, username="quay.w2b", role="counter_staff",
                   unit_id=people["w2"]).status_code == 422
    listing = manager.get("/admin/users").get_data(as_text=True)
    assert "quay2.w1" in listing and "truong.w2" not in listing and "noivu" not in listing
    with app.app_context():
        created = db.session.scalar(select(User).filter_by(username="quay2.w1"))
        assert created.role == "counter_staff" and created.unit_id == people["w1"]
        assert db.session.scalar(select(User.id).filter_by(username="sep.w1")) is None
        assert db.session.scalar(select(AuditLog.actor).filter_by(action="user.create")) == "truong.w1"


def test_admin_creates_any_role_and_duplicates_are_refused(app, people):
    admin = app.test_client()
    login(admin, "noivu")
    assert _create(admin, username="Lanh.Dao.W2", role="unit_manager",
                   unit_id=people["w2"]).status_code == 302
    again = _create(admin, username="lanh.dao.w2", role="unit_manager", unit_id=people["w2"])
    assert again.status_code == 422 and "đã được dùng" in again.get_data(as_text=True)
    assert login(app.test_client(), "LANH.DAO.W2", "Quầy một cửa số một").status_code == 302


def test_counter_staff_cannot_open_account_pages(app, people):
    staff = app.test_client()
    login(staff, "quay.w1")
    assert staff.get("/admin/users").status_code == 403
    assert staff.get("/admin/users/new").status_code == 403


def test_cli_create_and_reset_password(app, runner, people):
    ok = runner.invoke(args=["users", "create", "quay3.w1", "--role", "counter_staff", "--unit", "W1",
                             "--password-stdin"], input="Mật khẩu từ dòng lệnh\n")
    assert ok.exit_code == 0, ok.output
    assert login(app.test_client(), "quay3.w1", "Mật khẩu từ dòng lệnh").status_code == 302
    weak = runner.invoke(args=["users", "create", "quay4.w1", "--role", "counter_staff",
                               "--unit", "W1", "--password-stdin"], input="12345\n")
    assert weak.exit_code == 1 and "10" in weak.output  # the minimum length is named
    unknown = runner.invoke(args=["users", "create", "x.y", "--role", "admin", "--unit", "NOPE",
                                  "--generate"])
    assert unknown.exit_code == 1 and "NOPE" in unknown.output
    prompted = runner.invoke(args=["users", "create", "quay5.w1", "--role", "counter_staff",
                                   "--unit", "W1"], input="Gõ hai lần cho chắc\nGõ hai lần cho chắc\n")
    assert prompted.exit_code == 0, prompted.output
    with app.app_context():
        assert db.session.scalar(select(User.id).filter_by(username="quay4.w1")) is None
        user = db.session.scalar(select(User).filter_by(username="quay3.w1"))
        user.failed_logins, user.locked_until = 0, __import__("datetime").datetime(2999, 1, 1)
        db.session.commit()
    reset = runner.invoke(args=["users", "reset-password", "quay3.w1", "--generate"])
    assert reset.exit_code == 0, reset.output
    new = reset.output.split("password: ")[1].strip()
    assert login(app.test_client(), "quay3.w1", new).status_code == 302  # lockout lifted too
    assert runner.invoke(args=["users", "reset-password", "ai.vay", "--generate"]).exit_code == 1
    listing = runner.invoke(args=["users", "list"])
    assert "quay3.w1\tcounter_staff\tW1\tactive" in listing.output


def test_demo_logins_work(app, client):
    import json
    from pathlib import Path

    from survey.services.demo import load_demo
    with app.app_context():
        load_demo(responses=30)
        db.session.commit()
        logins = json.loads((Path(app.instance_path) / "demo-logins.json").read_text())
    for username, password, role in logins:
        response = login(app.test_client(), username, password)
        assert response.status_code == 302, (username, role)


def test_language_switch_is_remembered(client, people):
    login(client, "noivu")
    english = client.get("/admin/?lang=en")
    assert '<html lang="en">' in english.get_data(as_text=True)
    assert any(c.startswith("lang=en") for c in english.headers.getlist("Set-Cookie"))
    assert '<html lang="en">' in client.get("/admin/users").get_data(as_text=True)


def test_admin_deactivates_and_reactivates_an_account(app, people):
    target = _user_id(app, "quay.w1")
    staff = app.test_client()
    login(staff, "quay.w1")
    admin = app.test_client()
    login(admin, "noivu")
    token = token_of(admin.get(f"/admin/users/{target}").get_data(as_text=True))
    off = admin.post(f"/admin/users/{target}/active", data={"csrf_token": token, "active": "0"})
    assert off.status_code == 302
    assert staff.get("/account/password").status_code == 302  # the open session ended
    assert login(app.test_client(), "quay.w1").status_code == 401
    admin.post(f"/admin/users/{target}/active", data={"csrf_token": token, "active": "1"})
    assert login(app.test_client(), "quay.w1").status_code == 302
    me = _user_id(app, "noivu")
    admin.post(f"/admin/users/{me}/active", data={"csrf_token": token, "active": "0"})
    assert admin.get("/admin/").status_code == 200  # nobody locks themselves out
    with app.app_context():
        actions = db.session.scalars(select(AuditLog.action).where(
            AuditLog.action.in_(["user.deactivate", "user.activate"])).order_by(AuditLog.id)).all()
        assert actions == ["user.deactivate", "user.activate"]
    manager = app.test_client()
    login(manager, "truong.w1")
    token = token_of(manager.get("/admin/users").get_data(as_text=True))
    assert manager.post(f"/admin/users/{target}/active",
                        data={"csrf_token": token, "active": "0"}).status_code == 403


def test_session_expires_after_the_idle_lifetime(app, people):
    import time
    from datetime import timedelta
    client = app.test_client()
    login(client, "noivu")
    assert app.permanent_session_lifetime == timedelta(hours=12)
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.expires is not None  # not a browser-lifetime cookie
    app.permanent_session_lifetime = timedelta(seconds=1)
    time.sleep(2.1)
    assert client.get("/admin/").status_code == 302  # the signed timestamp is too old
