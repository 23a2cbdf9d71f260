"""App set-up: configuration, security headers, translations, migrations and the demo."""

from __future__ import annotations

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from sqlalchemy import func, select

from survey import ROOT, create_app
from survey.config import ConfigError
from survey.extensions import db
from survey.models import EntryPoint, Response, Unit


def test_production_refuses_to_start_without_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("SIPAS_ENV", "production")
    monkeypatch.delenv("SIPAS_SECRET_KEY", raising=False)
    monkeypatch.setenv("SIPAS_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="SIPAS_SECRET_KEY"):
        create_app()


def test_development_secret_is_random_per_installation(monkeypatch, tmp_path):
    monkeypatch.delenv("SIPAS_SECRET_KEY", raising=False)
    monkeypatch.setenv("SIPAS_INSTANCE_PATH", str(tmp_path / "a"))
    first = create_app().config["SECRET_KEY"]
    monkeypatch.setenv("SIPAS_INSTANCE_PATH", str(tmp_path / "b"))
    assert len(first) > 40 and first != create_app().config["SECRET_KEY"]


def test_sqlite_runs_in_wal_mode(app):
    if app.config["BACKEND"] != "sqlite":
        pytest.skip("SQLite only")
    with app.app_context():
        assert db.session.execute(db.text("PRAGMA journal_mode")).scalar() == "wal"


def test_english_catalogue_is_complete_and_compiled():
    folder = ROOT / "survey" / "translations" / "en" / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as f:
        po = read_po(f)
    with open(folder / "messages.mo", "rb") as f:
        mo = read_mo(f)
    untranslated = [m.id for m in po if m.id and not m.string]
    assert untranslated == []
    # Every UI string in the code and templates is in the catalogue.
    from babel.messages.extract import extract_from_dir
    method_map = [("survey/**.py", "python"), ("templates/**.html", "jinja2")]
    used = {msg[2] for msg in extract_from_dir(
        str(ROOT), method_map, keywords={"_": None, "gettext": None, "_l": None,
                                         "lazy_gettext": None})}
    assert len(used) >= 20 and used - {m.id for m in po} == set()
    assert {m.id: m.string for m in po if m.id} == {m.id: m.string for m in mo if m.id}


def test_demo_loads_once_and_prints_codes_and_logins(app, runner):
    first = runner.invoke(args=["demo", "--responses", "300"])
    assert first.exit_code == 0, first.output
    assert "/s/" in first.output and "noivu /" in first.output
    with app.app_context():
        counts = (db.session.scalar(select(func.count(Response.id))),
                  db.session.scalar(select(func.count(Unit.id))),
                  db.session.scalar(select(func.count(EntryPoint.id))))
    second = runner.invoke(args=["demo", "--responses", "300"])
    assert second.exit_code == 0 and "already loaded" in second.output
    with app.app_context():
        assert counts == (db.session.scalar(select(func.count(Response.id))),
                          db.session.scalar(select(func.count(Unit.id))),
                          db.session.scalar(select(func.count(EntryPoint.id))))
    assert counts[0] == 300 and counts[1] >= 10
    first_logins = [line for line in first.output.splitlines() if " / " in line]
    assert first_logins == [line for line in second.output.splitlines() if " / " in line]


# Migrations against the models, from empty and from the first release: tests/test_migrations.py


def test_questionnaires_load_command_is_idempotent(runner):
    first = runner.invoke(args=["questionnaires", "load"])
    assert first.exit_code == 0 and "sipas-counter@1: published" in first.output
    second = runner.invoke(args=["questionnaires", "load"])
    assert "sipas-counter@1: already published, unchanged" in second.output
