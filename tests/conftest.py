"""Fixtures: ``app``, ``client`` and ``runner`` on SQLite and, when configured, PostgreSQL.

Every test that uses ``app`` runs once per database backend. PostgreSQL runs when
``SIPAS_TEST_POSTGRES_URL`` is set (``scripts/test`` starts a throwaway server); with
``CI=true`` a missing PostgreSQL is an error, not a skip.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from survey import create_app
from survey.extensions import db

POSTGRES_URL = os.environ.get("SIPAS_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])


def pytest_sessionstart(session):
    """In CI, PostgreSQL and Chromium are mandatory."""
    if os.environ.get("CI") == "true":
        if not POSTGRES_URL:
            pytest.exit("CI=true but SIPAS_TEST_POSTGRES_URL is not set", returncode=3)
        if not os.environ.get("SIPAS_CHROMIUM"):
            pytest.exit("CI=true but SIPAS_CHROMIUM is not set", returncode=3)


def pytest_report_header(config):
    """Say which backends run, loudly when one is missing."""
    lines = [f"database backends: {', '.join(BACKENDS)}"]
    if not POSTGRES_URL:
        lines.append("!!! PostgreSQL tests SKIPPED: set SIPAS_TEST_POSTGRES_URL (scripts/test does)")
    if not os.environ.get("SIPAS_CHROMIUM"):
        lines.append("!!! Chromium tests SKIPPED: set SIPAS_CHROMIUM=/usr/bin/chromium")
    return lines


@pytest.fixture(scope="session", params=BACKENDS)
def database(request, tmp_path_factory):
    """A migrated, empty database per backend for the whole session (built by ``db upgrade``)."""
    instance = tmp_path_factory.mktemp(f"instance-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{instance / 'test.db'}"
    else:
        url = POSTGRES_URL
        _reset_postgres(url)
    app = create_app(_config(url, instance))
    with app.app_context():
        upgrade()
        if request.param == "sqlite":
            db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.engine.dispose()
    return {"backend": request.param, "url": url, "instance": instance}


def _reset_postgres(url: str) -> None:
    """Drop whatever an earlier run left, so migrations build from empty."""
    from sqlalchemy import create_engine
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def _config(url: str, instance: Path) -> dict:
    """Test configuration."""
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "test-secret-not-for-production",
        "RATELIMIT_ENABLED": False,
        "PUBLIC_BASE_URL": "http://127.0.0.1",
    }


@pytest.fixture
def app(database):
    """An app bound to the session database; every table is emptied after the test."""
    os.environ["SIPAS_INSTANCE_PATH"] = str(database["instance"])
    url = database["url"]
    if database["backend"] == "sqlite":
        # A fresh copy of the migrated template: responses cannot be deleted (triggers).
        copy = database["instance"] / f"test-{uuid.uuid4().hex}.db"
        shutil.copy(database["instance"] / "test.db", copy)
        url = f"sqlite:///{copy}"
    app = create_app(_config(url, database["instance"]))
    app.config["BACKEND"] = database["backend"]
    yield app
    with app.app_context():
        db.session.remove()
        if database["backend"] == "postgres":
            # TRUNCATE does not fire the row triggers that keep responses append-only.
            tables = [t.name if t.name != "answers" else "response_answers"  # a view there
                      for t in db.metadata.sorted_tables]
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        db.engine.dispose()
    if database["backend"] == "sqlite":
        for path in database["instance"].glob(f"{copy.name}*"):
            path.unlink()


@pytest.fixture
def client(app):
    """Test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """CLI runner."""
    return app.test_cli_runner()
