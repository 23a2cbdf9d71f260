"""Export jobs: a large export runs outside the request, and every server can report its progress.

The ``export_jobs`` row is the only truth.  A job is *claimed* with one conditional UPDATE
(``pending`` → ``running``, or a ``running`` job whose heartbeat stopped), so whichever process
claims it first runs it and no job runs twice at once: a background thread of the app process
that queued it (``SIPAS_EXPORT_RUNNER=thread``, the default) or ``sipas export run-pending`` on
any machine (with ``SIPAS_EXPORT_RUNNER=cli`` the web pages only queue).  Progress and a
heartbeat are committed about once a second; the file is written in the export folder
(``SIPAS_EXPORT_DIR``, default ``<instance>/exports``) under a name only the job knows, and
renamed into place when complete.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import or_, select, update

from ...extensions import db
from ...models import Campaign, ExportJob, User
from ...models.base import utcnow
from ..audit import record
from ..scope import Narrowed
from . import FORMATS, ExportError, ExportOptions, check_options, write_export

STALE = timedelta(minutes=2)  # a running job without a heartbeat this long is taken over
PULSE_SECONDS = 20.0  # heartbeat of a running job, independent of its progress
BEAT_SECONDS = 1.0
NAMES = {"csv": "du-lieu-tho", "xlsx": "bao-cao", "sav": "du-lieu-spss", "pdf": "bao-cao"}


def export_dir(app: Flask | None = None) -> Path:
    """The folder export files are written to (created if missing)."""
    app = app or current_app
    folder = Path(app.config.get("EXPORT_DIR") or os.environ.get("SIPAS_EXPORT_DIR")
                  or Path(app.instance_path) / "exports")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def create_job(campaign: Campaign, fmt: str, options: ExportOptions, user: User) -> ExportJob:
    """Queue an export of ``campaign`` for ``user`` (their subtree only); flushed, audited."""
    check_options(fmt, options, campaign)
    job = ExportJob(campaign_id=campaign.id, unit_id=user.unit_id, user_id=user.id, format=fmt,
                    options=options.to_dict(), status="pending", progress=0.0)
    db.session.add(job)
    db.session.flush()
    record("export.request", user.username, user_id=user.id, object_type="campaign",
           object_id=campaign.id, job=job.id, format=fmt, **options.to_dict())
    return job


def download_name(job: ExportJob, campaign: Campaign) -> str:
    """The file name offered to the browser, e.g. ``sadec-2026-bao-cao.xlsx``."""
    return f"{campaign.code}-{NAMES[job.format]}{FORMATS[job.format][0]}"


def job_path(job: ExportJob, app: Flask | None = None) -> Path | None:
    """Where a finished job's file is, or None."""
    return export_dir(app) / job.file_name if job.file_name else None


def is_stale(job: ExportJob, now: datetime | None = None) -> bool:
    """A running job whose worker stopped beating (or a pending one nobody started)."""
    now = now or utcnow()
    beat = job.heartbeat_at or job.created_at
    beat = beat if beat.tzinfo else beat.replace(tzinfo=now.tzinfo)
    return job.status in ("pending", "running") and now - beat > STALE


def start_in_background(app: Flask, job_id: int) -> threading.Thread | None:
    """Run the job in a daemon thread of this process (unless the runner is the CLI worker)."""
    runner = app.config.get("EXPORT_RUNNER") or os.environ.get("SIPAS_EXPORT_RUNNER", "thread")
    if runner != "thread":
        return None
    thread = threading.Thread(target=_thread_main, args=(app, job_id), daemon=True,
                              name=f"export-job-{job_id}")
    thread.start()
    return thread


def _thread_main(app: Flask, job_id: int) -> None:
    """Thread body: its own app context and database session."""
    with app.app_context():
        try:
            run_job(job_id)
        finally:
            db.session.remove()


def run_pending(limit: int | None = None) -> int:
    """Run queued (and abandoned) jobs one after another; return how many this process ran."""
    done = 0
    while limit is None or done < limit:
        stale = utcnow() - STALE
        ids = db.session.scalars(
            select(ExportJob.id).where(or_(ExportJob.status == "pending",
                                           (ExportJob.status == "running")
                                           & (ExportJob.heartbeat_at < stale)))
            .order_by(ExportJob.id).limit(1)).all()
        db.session.rollback()
        if not ids or not run_job(ids[0]):
            return done
        done += 1
    return done


def claim(job_id: int, worker: str) -> bool:
    """Take the job (pending, or running with a stopped heartbeat) for ``worker``; committed."""
    now = utcnow()
    result = db.session.execute(
        update(ExportJob)
        .where(ExportJob.id == job_id,
               or_(ExportJob.status == "pending",
                   (ExportJob.status == "running") & (ExportJob.heartbeat_at < now - STALE)))
        .values(status="running", worker=worker, started_at=now, heartbeat_at=now, progress=0.0,
                message=None))
    db.session.commit()
    return result.rowcount == 1


def run_job(job_id: int) -> bool:
    """Claim and run one job; False if another worker has it.  Failures are stored, not raised."""
    worker = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    if not claim(job_id, worker):
        return False
    job = db.session.get(ExportJob, job_id)
    campaign = db.session.get(Campaign, job.campaign_id)
    viewer = _viewer(job)
    name = f"{campaign.code}-{job.id}-{int(time.time())}{FORMATS[job.format][0]}"
    path = export_dir() / name
    beat = _Heartbeat(job_id)
    stop = threading.Event()
    pulse = threading.Thread(target=_pulse, args=(current_app._get_current_object(), job_id,
                                                  worker, stop), daemon=True)
    pulse.start()
    try:
        rows = write_export(job.format, campaign, path, options=ExportOptions.from_dict(job.options),
                            viewer=viewer, progress=beat)
    except Exception as exc:  # noqa: BLE001 - any failure is reported on the page, then logged
        db.session.rollback()
        _finish(job_id, status="failed", message=_failure(exc))
        current_app.logger.exception("export job %s failed", job_id)
        return True
    finally:
        stop.set()
        pulse.join()
    _finish(job_id, status="done", progress=1.0, file_name=name, size=path.stat().st_size,
            rows=rows, message=None)
    return True


def _pulse(app: Flask, job_id: int, worker: str, stop: threading.Event) -> None:
    """Keep the heartbeat fresh while this process works on the job, even in long silent steps
    (computing a report): a job goes stale only when its process is gone."""
    with app.app_context():
        try:
            while not stop.wait(PULSE_SECONDS):
                db.session.execute(update(ExportJob).where(
                    ExportJob.id == job_id, ExportJob.worker == worker,
                    ExportJob.status == "running").values(heartbeat_at=utcnow()))
                db.session.commit()
        finally:
            db.session.remove()


def _viewer(job: ExportJob):
    """The scope of the export: the requesting user's role over the job's unit subtree."""
    if job.user_id is None:
        return None
    user = db.session.get(User, job.user_id)
    return Narrowed(unit_id=job.unit_id, role=user.role if user else "unit_manager")


def _failure(exc: Exception) -> str:
    """What the page says about a failed export (the details go to the log)."""
    from ..results import ResultsError
    if isinstance(exc, ExportError | ResultsError):
        return str(exc)
    return f"{type(exc).__name__}"


def _finish(job_id: int, **values) -> None:
    """Store the outcome of a job (committed)."""
    now = utcnow()
    db.session.execute(update(ExportJob).where(ExportJob.id == job_id)
                       .values(finished_at=now, heartbeat_at=now, **values))
    db.session.commit()


class _Heartbeat:
    """Progress callback: stores progress and a heartbeat at most once per ``BEAT_SECONDS``."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.last = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self.last < BEAT_SECONDS and fraction < 1.0:
            return
        self.last = now
        db.session.execute(update(ExportJob).where(ExportJob.id == self.job_id)
                           .values(progress=min(max(fraction, 0.0), 1.0), message=message,
                                   heartbeat_at=utcnow()))
        db.session.commit()


def purge(days: float, now: datetime | None = None) -> int:
    """Delete files of jobs finished more than ``days`` ago (the rows stay); flushed, not committed.

    Also removes unfinished ``.part`` files older than a day (a worker killed mid-write).
    """
    now = now or utcnow()
    jobs = db.session.scalars(select(ExportJob).where(
        ExportJob.file_name.is_not(None), ExportJob.finished_at < now - timedelta(days=days))).all()
    for job in jobs:
        job_path(job).unlink(missing_ok=True)
        job.file_name = None
        job.message = "Tệp đã được xoá sau thời hạn lưu"
    for part in export_dir().glob(".*.part"):
        if time.time() - part.stat().st_mtime > 86400:
            part.unlink(missing_ok=True)
    db.session.flush()
    return len(jobs)


def job_state(job: ExportJob) -> dict:
    """Plain status of a job for the polling page."""
    return {"id": job.id, "status": job.status, "format": job.format,
            "progress": round(float(job.progress or 0.0), 4), "message": job.message,
            "rows": job.rows, "size": job.size}
