"""Fuzzing the public form and the API with seeded generated requests (Flask test client).

Every generated request is invalid in a way the generator knows for certain (a bad token,
an answer outside its question, an oversized or non-UTF-8 body, a wrong method or content type,
a junk code or key), except a small share of clean control submissions. Required: no 5xx at
all, and exactly the control submissions stored (0 rows from invalid requests).
``SIPAS_FUZZ_REQUESTS`` (default 10,000 per backend) sets the number of requests.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter

from sqlalchemy import func, select

from survey.extensions import db
from survey.models import Answer, EntryPoint, Response
from survey.public import tokens
from survey.questionnaires import NOT_APPLICABLE, load_questionnaire

from ..factories import make_campaign

REQUESTS = int(os.environ.get("SIPAS_FUZZ_REQUESTS", "10000"))
SEED = 20261122
INJECTIONS = [
    "' OR '1'='1", "1; DROP TABLE responses;--", "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>", "{{7*7}}", "${7*7}", "{% include 'x' %}",
    "../../../../etc/passwd", "%00", "\x00", "5\x00", "\u202e5", "=HYPERLINK(\"http://x\",\"y\")",
    "NaN", "Infinity", "-Infinity", "1e309", "0x4", "5_0", "4.0", "1.5", "-1", "0", "6", "7", "10",
    "9" * 40, "true", "null", "[]", "{}", "\u0000\u0001", "😀", "Ｘ", "ho_tich;--", "dat_dai'",
]
FORMS = {"TESTCODE": "sipas-counter", "RATECODE": "counter-rating"}  # every question type; a short one
JUNK_CODES = ["NOSUCH", "../etc/passwd", "%00", "x" * 300, "😀😀", "'--", "<b>", "A B C", "0", "-",
              "TESTCODE\x00", "testcode/..", "%2e%2e", "\u202eEDOCTSET"]
METHODS = ["PUT", "DELETE", "PATCH"]


class Generator:
    """Seeded generator of requests; ``valid`` is True only for clean control submissions."""

    def __init__(self, app, rng: random.Random):
        self.rng = rng
        self.app = app
        self.forms = {code: load_questionnaire(qid) for code, qid in FORMS.items()}
        self.code = "TESTCODE"
        self.api_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/")]

    @property
    def q(self):
        """The questionnaire behind the code of the request being generated."""
        return self.forms[self.code]

    @property
    def free(self) -> list[str]:
        """Its questions outside conditional blocks (a mutation there is always checked)."""
        return [c for s in self.q.sections if not s.when for c in s.items if not self.q.items[c].when]

    def token(self, code=None) -> str:
        """A fresh, valid form token."""
        with self.app.app_context():
            return tokens.issue(code or self.code)[1]

    def answers(self) -> dict[str, str]:
        """A random valid answer set over the unconditional questions (required ones always)."""
        out = {}
        chosen = self.rng.sample(self.free, self.rng.randint(0, len(self.free)))
        for code in dict.fromkeys([c for c in self.free if self.q.items[c].required] + chosen):
            item = self.q.items[code]
            if item.type in ("satisfaction", "scale"):
                out[code] = str(self.rng.randint(1, item.points))
            elif item.type == "yes_no":
                out[code] = "0"
            elif item.type in ("single_choice", "multiple_choice"):
                out[code] = self.rng.choice(item.options).code
            elif item.type == "text":
                out[code] = self.rng.choice(["Cán bộ nhiệt tình", "Thủ tục nhanh", "ok"])
        return out

    def invalid_value(self, code: str) -> str:
        """A value certainly invalid for question ``code`` (checked against the rules)."""
        item = self.q.items[code]
        while True:
            if item.type == "text":
                return self.rng.choice("abcđêôơư") * (item.max_length + self.rng.randint(1, 3000))
            value = self.rng.choice(INJECTIONS + [self.rng.choice(INJECTIONS) * 3])
            if not self._accepted(item, value):
                return value

    @staticmethod
    def _accepted(item, value: str) -> bool:
        """Whether the form would accept ``value`` (so the generator never calls it invalid)."""
        raw = value.strip()
        if not raw or (raw == NOT_APPLICABLE and item.allow_na):
            return True
        if item.type in ("single_choice", "multiple_choice"):
            return raw in {o.code for o in item.options}
        try:
            number = int(raw)
        except ValueError:
            return False
        return 0 <= number <= (1 if item.type == "yes_no" else item.points or 0) and (
            item.type == "yes_no" or number >= 1)

    def request(self) -> tuple[str, str, dict, bool]:
        """(kind, method, kwargs for the test client, valid?)."""
        self.code = self.rng.choice(list(FORMS))
        kind = self.rng.choices(
            ["control", "bad_answer", "bad_token", "content_type", "bad_utf8", "huge",
             "junk_code", "method", "cross_origin", "api"],
            weights=[5, 35, 12, 8, 8, 4, 10, 4, 4, 10 if self.api_rules else 0])[0]
        kind, method, kwargs, valid = getattr(self, f"_{kind}")()
        kwargs.setdefault("path", "/s/" + self.code)
        return kind, method, kwargs, valid

    def _body(self, fields: dict, junk: bool = True, **extra) -> dict:
        """Form fields, sometimes as multipart, with junk extra fields mixed in."""
        if junk and self.rng.random() < 0.3:
            fields[self.rng.choice(["x", "c9_9", "__proto__", "token2", "ÿ"])] = self.rng.choice(INJECTIONS)
        return {"data": fields, "content_type": self.rng.choice(
            ["application/x-www-form-urlencoded", "multipart/form-data"]), **extra}

    def _control(self):
        return "control", "POST", self._body({"token": self.token(), **self.answers()}, junk=False), True

    def _bad_answer(self):
        fields = {"token": self.token(), **self.answers()}
        for code in self.rng.sample(self.free, min(len(self.free), self.rng.randint(1, 3))):
            fields[code] = self.invalid_value(code)
        return "bad_answer", "POST", self._body(fields), False

    def _bad_token(self):
        token = self.rng.choice([
            "", "x", "null", self._tampered(), self.token("OTHERCOD"), "A" * 5000,
            self.token() + ".", json.dumps({"u": "1", "c": self.code}), self.rng.choice(INJECTIONS)])
        fields = {**self.answers(), "token": token} if token else self.answers()
        return "bad_token", "POST", self._body(fields), False

    def _tampered(self) -> str:
        """A token with one signature character changed. Not its last one: base64 ignores that
        character's low bits, so "…abd" → "…abc" can be the same signature (a valid token)."""
        token = self.token()
        at = len(token) - 5
        return token[:at] + ("B" if token[at] == "A" else "A") + token[at + 1:]

    def _content_type(self):
        payload = {"token": self.token(), "c1_1": "5"}
        ctype, data = self.rng.choice([
            ("application/json", json.dumps(payload)), ("text/plain", "token=x&c1_1=5"),
            ("application/xml", "<token>x</token>"), ("application/octet-stream", os.urandom(64)),
            ("multipart/form-data; boundary=zzz", b"--zzz\r\nbroken"), ("", b"")])
        return "content_type", "POST", {"data": data, "content_type": ctype}, False

    def _bad_utf8(self):
        garbage = self.rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
        token = self.token().encode()
        if self.rng.random() < 0.5:
            data = b"token=" + token + b"&c1_1=5&comment=" + garbage
            ctype = "application/x-www-form-urlencoded"
        else:
            data = (b"--b\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n" + token
                    + b"\r\n--b\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\n" + garbage
                    + b"\r\n--b--\r\n")
            ctype = "multipart/form-data; boundary=b"
        return "bad_utf8", "POST", {"data": data, "content_type": ctype}, False

    def _huge(self):
        size = self.rng.choice([300_000, 600_000, 1_200_000])
        data = self.rng.choice([{"token": self.token(), "comment": "á" * size},
                                {"token": self.token(), **{f"f{i}": "1" for i in range(5000)}}])
        return "huge", "POST", {"data": data}, False

    def _junk_code(self):
        code = self.rng.choice(JUNK_CODES)
        method = self.rng.choice(["GET", "POST"])
        return "junk_code", method, {"path": "/s/" + code, "data": {"token": self.token()}
                                     if method == "POST" else None}, False

    def _method(self):
        return "method", self.rng.choice(METHODS), self._body({"token": self.token(), "c1_1": "5"}), False

    def _cross_origin(self):
        body = self._body({"token": self.token(), "c1_1": "5"},
                          headers={"Origin": self.rng.choice(["https://evil.example", "http://127.0.0.2"])})
        return "cross_origin", "POST", body, False

    def _api(self):
        rule = self.rng.choice(self.api_rules)
        values = {name: self.rng.choice(JUNK_CODES[:4] + ["TESTCODE", "1"])
                  for name in rule.arguments}
        try:
            _, path = rule.build(values)
        except Exception:  # a junk value the converter refuses: use the rule text
            path = rule.rule
        method = self.rng.choice(sorted((rule.methods or {"GET"}) - {"HEAD", "OPTIONS"}) + ["POST"])
        headers = self.rng.choice([{}, {"Authorization": "Bearer " + self.rng.choice(INJECTIONS)},
                                   {"X-API-Key": "sk_" + "A" * 40}, {"Authorization": "Basic ???"},
                                   {"Authorization": "Bearer " + "x" * 9000}])
        body = self.rng.choice([json.dumps({"code": "TESTCODE", "unit": 1, "dossier": "x"}),
                                json.dumps([1, 2, 3]), "{broken", b"\xff\xfe{}", json.dumps("s"),
                                json.dumps({"dossier": {"$gt": ""}, "valid_days": -1})])
        return "api", method, {"path": path, "data": body, "headers": headers,
                               "content_type": "application/json"}, False


def _counts() -> tuple[int, int, int]:
    return (db.session.scalar(select(func.count(Response.id))),
            db.session.scalar(select(func.count()).select_from(Answer)),
            db.session.scalar(select(func.count(EntryPoint.id))))


def test_fuzz_public_form_and_api(app):
    with app.app_context():
        make_campaign()
        make_campaign(code="OTHERCOD")
        make_campaign("counter-rating", code="RATECODE")
        before = _counts()
    gen = Generator(app, random.Random(SEED))
    client = app.test_client()
    statuses, kinds, failures = Counter(), Counter(), []
    valid_sent = expected_answers = 0
    started = time.perf_counter()
    for n in range(REQUESTS):
        kind, method, kwargs, valid = gen.request()
        path = kwargs.pop("path")
        if kwargs.get("data") is None:
            kwargs.pop("data", None)
        resp = client.open(path, method=method, **kwargs)
        statuses[resp.status_code] += 1
        kinds[kind] += 1
        if resp.status_code >= 500 or (valid and resp.status_code != 200) or (
                not valid and kind != "api" and resp.status_code < 400):
            failures.append((n, kind, method, path, resp.status_code, str(kwargs)[:300]))
        if valid and resp.status_code == 200:
            valid_sent += 1
            expected_answers += sum(1 for k, v in kwargs["data"].items() if k != "token" and v)
    elapsed = time.perf_counter() - started
    with app.app_context():
        after = _counts()
    stored = after[0] - before[0]
    print(f"\nfuzz ({app.config['BACKEND']}): {REQUESTS} requests in {elapsed:.1f} s; "
          f"kinds {dict(kinds)}; statuses {dict(sorted(statuses.items()))}; "
          f"5xx {sum(v for k, v in statuses.items() if k >= 500)}; valid control submissions "
          f"{valid_sent}, responses stored {stored}, rows from invalid requests "
          f"{stored - valid_sent} responses / {after[1] - before[1] - expected_answers} answers / "
          f"{after[2] - before[2]} entry points")
    assert REQUESTS >= 10_000 or "SIPAS_FUZZ_REQUESTS" in os.environ
    assert not failures, failures[:10]
    assert stored == valid_sent and after[1] - before[1] == expected_answers
    assert after[2] == before[2]
