"""Export pages: start a job, follow its progress, download; scoping; the CLI worker; claims.

Runs on SQLite and PostgreSQL (the ``app`` fixture).
"""

from __future__ import annotations

import time
from datetime import date

import pytest
from sqlalchemy import select

from survey.extensions import db
from survey.models import AuditLog, Campaign, CampaignUnit, ExportJob, User
from survey.questionnaires import load_questionnaire
from survey.services.exports.jobs import claim
from survey.services.questionnaires import publish_questionnaire
from tests.web.workspace_support import login, make_response, make_unit, make_user, token_of


@pytest.fixture
def world(app):
    """A province with two wards, each with responses, a manager per ward and a province admin."""
    with app.app_context():
        version, _ = publish_questionnaire(load_questionnaire("sipas-counter"))
        province = make_unit("PV", "Tỉnh Thử", "province")
        wards = [make_unit("W1", "Phường Một", parent=province),
                 make_unit("W2", "Phường Hai", parent=province)]
        campaign = Campaign(code="dot-1", name="Đợt thử", questionnaire_version_id=version.id,
                            starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31),
                            weighting="equal")
        db.session.add(campaign)
        db.session.flush()
        for ward in wards:
            db.session.add(CampaignUnit(campaign_id=campaign.id, unit_id=ward.id))
        db.session.flush()
        for ward, n in zip(wards, (14, 12), strict=True):
            for _ in range(n):
                make_response(campaign.id, ward.id, comment=f"ý kiến {ward.code}")
        make_user("noivu", "admin", province)
        make_user("ql.w1", "unit_manager", wards[0])
        make_user("ql.w2", "unit_manager", wards[1])
        db.session.commit()
        return {"campaign": campaign.id}


def _wait(client, job_id: int, seconds: float = 60) -> dict:
    """Poll the job's JSON until it is done or failed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = client.get(f"/admin/exports/{job_id}").get_json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {state}")


def _start(client, campaign_id: int, fmt: str, **extra) -> int:
    """POST the export form; return the new job's id (from the redirect's anchor)."""
    page = client.get(f"/admin/campaigns/{campaign_id}/exports")
    assert page.status_code == 200
    response = client.post(f"/admin/campaigns/{campaign_id}/exports",
                           data={"csrf_token": token_of(page.get_data(as_text=True)),
                                 "format": fmt, **extra})
    assert response.status_code == 303
    return int(response.location.rsplit("#job-", 1)[1])


def test_job_starts_reports_progress_and_downloads(app, world):
    client = app.test_client()
    login(client, "noivu")
    job_id = _start(client, world["campaign"], "csv")
    state = _wait(client, job_id)
    assert state["status"] == "done" and state["progress"] == 1.0 and state["rows"] == 26
    download = client.get(state["download"])
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert "dot-1-du-lieu-tho.csv" in download.headers["Content-Disposition"]
    assert download.data.startswith(b"\xef\xbb\xbf")
    direct = client.get(f"/admin/campaigns/{world['campaign']}/exports/raw.csv")
    assert direct.status_code == 200 and direct.data == download.data
    for response in (download, direct):  # one charset parameter, not two
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    page = client.get(f"/admin/campaigns/{world['campaign']}/exports").get_data(as_text=True)
    assert f'id="job-{job_id}"' in page and "/static/exports/exports.js" in page
    with app.app_context():
        audit = db.session.scalar(select(AuditLog).filter_by(action="export.request"))
        assert audit.actor == "noivu" and audit.details["format"] == "csv"


@pytest.mark.parametrize("fmt", ["xlsx", "sav", "pdf"])
def test_report_jobs_finish_with_their_files(app, world, fmt):
    client = app.test_client()
    login(client, "noivu")
    job_id = _start(client, world["campaign"], fmt, weighting="unweighted")
    state = _wait(client, job_id)
    assert state["status"] == "done", state
    data = client.get(state["download"]).data
    magic = {"xlsx": b"PK", "sav": b"$FL2", "pdf": b"%PDF"}[fmt]
    assert data.startswith(magic)


def test_another_units_manager_cannot_see_or_download_the_job(app, world):
    admin, own, other = app.test_client(), app.test_client(), app.test_client()
    login(own, "ql.w1")
    login(other, "ql.w2")
    job_id = _start(own, world["campaign"], "csv")
    state = _wait(own, job_id)
    rows = own.get(state["download"]).data.decode("utf-8-sig").splitlines()
    assert len(rows) == 1 + 14 and all(",W1," in r for r in rows[1:])  # their ward only
    assert other.get(f"/admin/exports/{job_id}").status_code == 404
    assert other.get(f"/admin/exports/{job_id}/download").status_code == 404
    assert f"job-{job_id}" not in other.get(
        f"/admin/campaigns/{world['campaign']}/exports").get_data(as_text=True)
    login(admin, "noivu")
    assert admin.get(f"/admin/exports/{job_id}").status_code == 200  # the province sees it


def test_bad_format_is_refused_and_queues_nothing(app, world):
    client = app.test_client()
    login(client, "noivu")
    page = client.get(f"/admin/campaigns/{world['campaign']}/exports")
    response = client.post(f"/admin/campaigns/{world['campaign']}/exports",
                           data={"csrf_token": token_of(page.get_data(as_text=True)),
                                 "format": "docx"}, follow_redirects=True)
    assert "Không tạo được tệp" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(ExportJob)) == 0


def test_queued_jobs_run_in_the_cli_worker_and_are_claimed_once(app, world):
    app.config["EXPORT_RUNNER"] = "cli"  # the web only queues
    client = app.test_client()
    login(client, "noivu")
    job_id = _start(client, world["campaign"], "csv")
    assert client.get(f"/admin/exports/{job_id}").get_json()["status"] == "pending"
    with app.app_context():
        assert claim(job_id, "first") is True
        assert claim(job_id, "second") is False  # a running job is not taken twice
        db.session.execute(db.update(ExportJob).where(ExportJob.id == job_id)
                           .values(status="pending"))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["export", "run-pending"])
    assert result.exit_code == 0 and "ran 1 export job" in result.output
    state = client.get(f"/admin/exports/{job_id}").get_json()
    assert state["status"] == "done" and client.get(state["download"]).status_code == 200


def test_a_job_whose_worker_stopped_is_taken_over_by_the_next_poll(app, world):
    from datetime import UTC, datetime, timedelta
    client = app.test_client()
    login(client, "noivu")
    with app.app_context():
        user_id, unit_id = db.session.execute(select(User.id, User.unit_id)
                                              .filter_by(username="noivu")).one()
        gone = datetime.now(UTC) - timedelta(minutes=10)
        job = ExportJob(campaign_id=world["campaign"], unit_id=unit_id, user_id=user_id,
                        format="csv", options={}, status="running", progress=0.4,
                        worker="dead-server:1:1", started_at=gone, heartbeat_at=gone)
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    state = _wait(client, job_id)  # the first poll sees the stale heartbeat and restarts it
    assert state["status"] == "done" and state["rows"] == 26
    with app.app_context():
        assert db.session.get(ExportJob, job_id).worker != "dead-server:1:1"


def test_purge_deletes_old_files_and_keeps_the_jobs(app, world):
    from datetime import UTC, datetime, timedelta
    client = app.test_client()
    login(client, "noivu")
    job_id = _start(client, world["campaign"], "csv")
    state = _wait(client, job_id)
    with app.app_context():
        from survey.services.exports.jobs import job_path
        job = db.session.get(ExportJob, job_id)
        path = job_path(job)
        job.finished_at = datetime.now(UTC) - timedelta(days=40)
        db.session.commit()
    assert path.is_file()
    result = app.test_cli_runner().invoke(args=["export", "purge", "--days", "30"])
    assert result.exit_code == 0 and "deleted 1 export file" in result.output
    assert not path.exists()
    assert client.get(state["download"]).status_code == 303  # back to the page: no file
    assert client.get(f"/admin/exports/{job_id}").get_json()["status"] == "done"


def test_a_running_job_keeps_its_heartbeat_while_it_computes(app, world, monkeypatch):
    from survey.services.exports import jobs
    monkeypatch.setattr(jobs, "PULSE_SECONDS", 0.05)
    slow = jobs.write_export
    beats = []

    def slow_export(*args, **kwargs):  # a long silent step, e.g. computing a large report
        for _ in range(3):
            time.sleep(0.2)
            beats.append(db.session.scalar(select(ExportJob.heartbeat_at)))
            db.session.rollback()
        return slow(*args, **kwargs)

    monkeypatch.setattr(jobs, "write_export", slow_export)
    with app.app_context():
        user = db.session.scalar(select(User).filter_by(username="noivu"))
        campaign = db.session.get(Campaign, world["campaign"])
        job = jobs.create_job(campaign, "csv", jobs.ExportOptions(), user)
        db.session.commit()
        assert jobs.run_job(job.id) is True
        assert db.session.get(ExportJob, job.id).status == "done"
    assert len(set(beats)) == 3  # refreshed while nothing reported progress
