"""Accounts: login, no user enumeration, throttling, password policy, change/reset, CLI."""

from __future__ import annotations

import pytest

from survey.extensions import db
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
