"""Review decisions: exclude and re-include with a reason, manual flags, audit, analysis follows."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Answer, AuditLog, Response, User
from survey.services import review
from survey.services.results import campaign_report
from tests.services.review_support import XSS, review_world


@pytest.fixture
def world(app):
    with app.app_context():
        return review_world()


def _user(world, role) -> User:
    return db.session.get(User, world["users"][role])


def test_exclusion_and_reinclusion_are_audited_and_the_next_analysis_follows(app, world):
    with app.app_context():
        campaign = world["campaign"]
        before = campaign_report(campaign)
        assert before.find("c1_1").estimate == pytest.approx(100 * 3 / 5)   # 5, 5, 1, 4 and 2 (W2)
        assert before.settings["n_excluded"] == 0 and before.settings["n_included"] == 5

        admin = _user(world, "admin")
        response = db.session.get(Response, world["bad"])
        review.exclude(response, "Trả lời trong 4 giây, cùng thiết bị", user=admin, actor=admin.username)
        db.session.commit()

        after = campaign_report(campaign)
        assert after.settings["n_excluded"] == 1 and after.settings["n_included"] == 4
        assert after.find("c1_1").estimate == pytest.approx(100 * 3 / 4)

        review.include(db.session.get(Response, world["bad"]), "Xác minh lại: người dân thật",
                       user=admin, actor=admin.username)
        db.session.commit()
        again = campaign_report(campaign)
        assert again.settings["n_excluded"] == 0
        assert again.find("c1_1").estimate == pytest.approx(before.find("c1_1").estimate)

        entries = review.history(db.session.get(Response, world["bad"]))
        assert [e.action for e in entries] == ["response.exclude", "response.include"]
        assert entries[0].details["reason"] == "Trả lời trong 4 giây, cùng thiết bị"
        assert entries[1].details["previous_reason"] == "Trả lời trong 4 giây, cùng thiết bị"
        assert all(e.user_id == admin.id and e.actor == "noivu" for e in entries)
        # Nothing was deleted: every response and answer is still there.
        assert db.session.scalar(select(func.count(Response.id))) == 5
        assert db.session.scalar(select(func.count()).select_from(Answer)) == 7


def test_a_decision_needs_a_reason_and_changes_nothing_without_one(app, world):
    with app.app_context():
        admin = _user(world, "admin")
        response = db.session.get(Response, world["bad"])
        for reason in (None, "", "   ", "ngắn"):
            with pytest.raises(review.ReviewError):
                review.exclude(response, reason, user=admin, actor="noivu")
        db.session.rollback()
        response = db.session.get(Response, world["bad"])
        assert response.excluded is False and response.exclusion_reason is None
        assert db.session.scalar(select(func.count(AuditLog.id)).where(
            AuditLog.action.like("response.%"))) == 0


def test_decisions_that_make_no_sense_are_refused(app, world):
    with app.app_context():
        admin = _user(world, "admin")
        response = db.session.get(Response, world["good"])
        with pytest.raises(review.ReviewError):
            review.include(response, "đưa lại phiếu", user=admin, actor="noivu")
        review.exclude(response, "phiếu thử nghiệm của cán bộ", user=admin, actor="noivu")
        with pytest.raises(review.ReviewError):
            review.exclude(response, "loại lần nữa", user=admin, actor="noivu")


def test_manual_flag_appends_and_is_reversible(app, world):
    with app.app_context():
        manager = _user(world, "manager")
        response = db.session.get(Response, world["bad"])
        review.flag(response, "Người dân báo bị nhờ chấm hộ", user=manager, actor=manager.username)
        db.session.commit()
        assert db.session.get(Response, world["bad"]).flags == ["too_fast", "manual"]
        plain = db.session.get(Response, world["plain"])
        review.flag(plain, "Nội dung đáng ngờ", user=manager, actor=manager.username)
        db.session.commit()
        ids = [r.id for r in review.queue(world["campaign"], manager).responses]
        assert world["plain"] in ids
        review.unflag(db.session.get(Response, world["bad"]), "Đã kiểm tra, không có vấn đề",
                      user=manager, actor=manager.username)
        db.session.commit()
        assert db.session.get(Response, world["bad"]).flags == ["too_fast"]
        actions = [e.action for e in review.history(db.session.get(Response, world["bad"]))]
        assert actions == ["response.flag", "response.unflag"]


def test_queue_holds_flagged_and_excluded_responses_of_the_users_subtree_only(app, world):
    with app.app_context():
        admin, manager, manager_w2 = (_user(world, r) for r in ("admin", "manager", "manager_w2"))
        review.exclude(db.session.get(Response, world["good"]), "phiếu thử của cán bộ", user=admin,
                       actor="noivu")
        db.session.commit()
        everything = {r.id for r in review.queue(world["campaign"], admin).responses}
        assert everything == {world["bad"], world["good"], world["elsewhere"]}
        assert {r.id for r in review.queue(world["campaign"], manager).responses} == {
            world["bad"], world["good"]}
        assert {r.id for r in review.queue(world["campaign"], manager_w2).responses} == {world["elsewhere"]}
        pending = review.queue(world["campaign"], admin, status="pending")
        assert {r.id for r in pending.responses} == {world["bad"], world["elsewhere"]}
        excluded = review.queue(world["campaign"], admin, status="excluded")
        assert [r.id for r in excluded.responses] == [world["good"]] and excluded.total == 1


def test_answers_and_comments_are_read_back_as_text(app, world):
    with app.app_context():
        response = db.session.get(Response, world["bad"])
        rows = {r.code: r for r in review.answer_rows(response)}
        assert rows["c1_1"].value == "1 · Rất không hài lòng"
        assert rows["comment"].value == XSS                       # the template escapes it
        assert review.comments_of([response]) == {response.id: [XSS]}
        english = {r.code: r for r in review.answer_rows(response, "en")}
        assert english["c1_1"].value == "1 · Very dissatisfied"


def test_queue_counts_follow_the_decisions(app, world):
    with app.app_context():
        admin, manager = _user(world, "admin"), _user(world, "manager")
        assert review.queue_counts(world["campaign"], admin) == {"pending": 2, "excluded": 0}
        review.exclude(db.session.get(Response, world["bad"]), "cùng thiết bị, 4 giây", user=admin,
                       actor="noivu")
        db.session.commit()
        assert review.queue_counts(world["campaign"], admin) == {"pending": 1, "excluded": 1}
        counts = review.queue_counts(world["campaign"], manager)
        assert counts == {"pending": 0, "excluded": 1}
