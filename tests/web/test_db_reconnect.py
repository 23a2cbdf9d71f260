"""A database connection that died in the pool (a restarted or failed-over server, an idle
timeout) costs the citizen nothing: the session pool's check on checkout replaces it, and a
statement the form sends on its own (``services/direct.py``) is sent again on a fresh one."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select, text

from survey.extensions import db
from survey.models import Response, ScanCount

from ..factories import form_token, make_campaign, receipt


def _kill_other_connections(url: str) -> int:
    """Terminate every other server connection to this database (the app's pooled ones)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    finally:
        engine.dispose()


def test_a_killed_database_connection_costs_the_citizen_nothing(app, client):
    if app.config["BACKEND"] != "postgres":
        pytest.skip("SQLite has no server connection to lose")
    with app.app_context():
        code = make_campaign().code
    assert client.get(f"/s/{code}").status_code == 200  # the pool now holds a connection
    assert _kill_other_connections(app.config["SQLALCHEMY_DATABASE_URI"]) >= 1
    page = client.get(f"/s/{code}")
    assert page.status_code == 200
    assert _kill_other_connections(app.config["SQLALCHEMY_DATABASE_URI"]) >= 1
    sent = client.post(f"/s/{code}", data={"c1_1": "5", "overall": "4",
                                           "token": form_token(page.get_data(as_text=True))})
    assert sent.status_code == 200 and receipt(sent.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(select(func.count(Response.id))) == 1
        assert db.session.scalar(select(func.sum(ScanCount.scans))) == 2
