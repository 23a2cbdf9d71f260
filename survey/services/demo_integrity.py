"""Suspicious responses for the demo, stored and flagged through the real code path.

A clerk rating the own counter from a logged-in counter PC, and one phone sending a burst of
answers: both go through ``submit_response`` and ``assess_response`` exactly as a request does,
so the demo's review queue shows flags the way production produces them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from flask import current_app

from ..models import Campaign, EntryPoint, QuestionnaireVersion
from ..questionnaires import Questionnaire
from .integrity import Signals, Thresholds, assess_response
from .responses import submit_response

STAFF_RESPONSES = 3
BURST_RESPONSES = 8
SUSPICIOUS = STAFF_RESPONSES + BURST_RESPONSES
START = datetime(2026, 11, 19, 1, 30, tzinfo=UTC)  # 08:30 in Sa Đéc


def add_suspicious_responses(rng: np.random.Generator, q: Questionnaire,
                             version: QuestionnaireVersion, campaign: Campaign,
                             entries: list[EntryPoint]) -> int:
    """Store the staff-device and burst responses on two counters; return how many."""
    secret = current_app.config["SECRET_KEY"]
    thresholds = Thresholds.from_config(current_app.config)
    answers = {code: 5 for code in [n.item for n in q.criteria()] + ["overall"]
               if not code.startswith("c5_")}
    answers.update({"gave_feedback": 0, "field": "ho_tich"})
    staff_entry, burst_entry = entries[0], entries[-1]
    plan = [(staff_entry, Signals(staff=True, ip="10.0.0.15"), START + timedelta(hours=h), 95)
            for h in range(STAFF_RESPONSES)]
    phone = Signals(device_id=str(uuid.UUID(bytes=rng.bytes(16))), ip="203.0.113.45")
    plan += [(burst_entry, phone, START + timedelta(minutes=2 * i), 6)
             for i in range(BURST_RESPONSES)]
    for entry, signals, at, seconds in plan:
        response, _ = submit_response(
            entry=entry, version=version, questionnaire=q, answers=answers,
            submission_uuid=str(uuid.UUID(bytes=rng.bytes(16), version=4)), form_seconds=seconds,
            now=at)
        assess_response(response, answers, signals, secret=secret, thresholds=thresholds)
    return len(plan)
