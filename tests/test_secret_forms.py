"""Every form a known secret takes in pytest's output is redacted: escaped, encoded,
cut short; the variables and URL shapes that hold one; test ids that do not
confirm a guessed secret (pure logic: the end-to-end run is test_secret_leaks.py)."""

from __future__ import annotations

import hashlib
import html
import json
import re
from urllib.parse import quote, quote_plus

import pytest
from _pytest._io.saferepr import saferepr
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_dome.core.plan import CollectedTest, make_plan
from pytest_dome.core.redact import Redactor
from pytest_dome.core.secretforms import CUT, PIECE
from pytest_dome.core.taskid import shown_node_id, task_id_for

TOKEN = "ghp_Q7xv2LmNpR4sT6uV8wX0yZ1aB3cD6eFgH1jKlM0n"
PASSWORD = "Zq8Rt\\Wv4Ln\"Kp3Jh'Xm9Ts/é%&<Bd7Fw"
MARK = "[REDACTED:env_secret]"


def longest_piece(text: str, secret: str) -> int:
    """The longest run of ``secret`` left in ``text`` (markers taken out first)."""
    text = text.replace(MARK, "\x00")
    return max(
        (
            n
            for n in range(1, len(secret) + 1)
            for i in range(len(secret) - n + 1)
            if secret[i : i + n] in text
        ),
        default=0,
    )


def lower_hex(text: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), text)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(PASSWORD, id="verbatim"),
        pytest.param(repr(PASSWORD), id="repr"),
        pytest.param(ascii(PASSWORD), id="ascii"),
        pytest.param(repr([PASSWORD]), id="repr-in-a-list"),
        pytest.param(repr(repr(PASSWORD)), id="repr-of-repr"),
        pytest.param(PASSWORD.encode("unicode_escape").decode(), id="test-id-escape"),
        pytest.param(json.dumps({"password": PASSWORD}), id="json"),
        pytest.param(json.dumps(PASSWORD, ensure_ascii=False), id="json-utf8"),
        pytest.param(json.dumps(json.dumps(PASSWORD)), id="json-in-json"),
        pytest.param(quote(PASSWORD, safe=""), id="percent"),
        pytest.param(lower_hex(quote(PASSWORD, safe="")), id="percent-lower-hex"),
        pytest.param(quote(PASSWORD), id="percent-path"),
        pytest.param(quote_plus(PASSWORD), id="form-encoded"),
        pytest.param(html.escape(PASSWORD), id="html"),
    ],
)
def test_each_form_of_a_known_secret_is_redacted(text: str) -> None:
    assert longest_piece(text, PASSWORD) >= 5  # the form holds the secret
    out = Redactor(environ={"DB_PASSWORD": PASSWORD}).redact(f"E  assert {text} == 'x'")
    assert MARK in out and longest_piece(out, PASSWORD) < CUT, out


def test_the_shortened_assertion_form_of_the_issue() -> None:
    redactor = Redactor(environ={"GH_TOKEN": TOKEN})
    shortened = saferepr(TOKEN, maxsize=30)  # what `assert token == "x"` prints
    assert shortened == "'ghp_Q7xv2LmN...D6eFgH1jKlM0n'"
    assert redactor.redact(f"assert {shortened} == 'x'") == f"assert '{MARK}...{MARK}' == 'x'"


ALNUM = st.text("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789", min_size=12, max_size=60)
AROUND = st.text(" -_:/=", max_size=40)  # no character of the secret: what is left of it is a leak


@settings(max_examples=300)
@given(ALNUM, AROUND, AROUND, st.integers(8, 80))
def test_no_cut_leaves_more_than_three_characters_of_a_secret(secret, before, after, size) -> None:
    redactor = Redactor(environ={"API_TOKEN": secret})
    for text in (
        saferepr(before + secret + after, maxsize=size),
        saferepr({"k": before + secret + after}, maxsize=size),
    ):
        assert longest_piece(redactor.redact(text), secret) < CUT, text


@settings(max_examples=200)
@given(ALNUM.filter(lambda s: len(s) > PIECE), st.data())
def test_a_run_of_piece_characters_is_redacted_anywhere_and_a_shorter_one_is_not(secret, data) -> None:
    redactor = Redactor(environ={"API_TOKEN": secret})
    start = data.draw(st.integers(0, len(secret) - PIECE))
    run = secret[start : start + PIECE]
    assert redactor.redact(f"diff: {run} :end") == f"diff: {MARK} :end"
    short = run[: PIECE - 1]
    if short not in (secret[:j] for j in range(len(secret))):  # not at a cut: left alone
        assert redactor.redact(f"diff: {short} :end") == f"diff: {short} :end"


def test_ordinary_text_around_a_word_like_secret_is_left_alone() -> None:
    redactor = Redactor(environ={"DB_PASSWORD": "password1"})
    text = "E  assert user.password == stored.password ... (Loading...)"
    assert redactor.redact(text) == text and redactor.counts == {}


@pytest.mark.parametrize(
    ("name", "value", "text", "expected"),
    [
        ("PGPASSWORD", "pg-s3cret-77", "pg-s3cret-77", MARK),
        ("MYSQL_PWD", "my-s3cret-77", "pw=my-s3cret-77", f"pw={MARK}"),
        ("GPG_PASSPHRASE", "correct horse", "'correct horse'", f"'{MARK}'"),
        ("GITHUB_PAT", "pat-0123456789", "pat-0123456789", MARK),
        ("SENTRY_DSN", "https://4f3a9c1e7b2d@o1.ingest.sentry.io/5", "key 4f3a9c1e7b2d", f"key {MARK}"),
        (
            "DATABASE_URL",
            "postgres://app:Pg7x/Qm@4z@db:5432/app",
            "password 'Pg7x/Qm@4z'",
            f"password '{MARK}'",
        ),
        ("REDIS_URL", "redis://:pw%40Qm4z9@cache:6379", "auth pw@Qm4z9", f"auth {MARK}"),
        (
            "API_URL",
            "https://api.example.com/v1",
            "GET https://api.example.com/v1",
            "GET https://api.example.com/v1",
        ),
        ("PWD", "/home/ci/work", "in /home/ci/work", "in /home/ci/work"),
        ("OLDPWD", "/home/ci/prev", "in /home/ci/prev", "in /home/ci/prev"),
    ],
)
def test_secret_variable_names(name: str, value: str, text: str, expected: str) -> None:
    assert Redactor(environ={name: value}).redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://:hunter22@cache:6379/0", "redis://:[REDACTED:url_credentials]@cache:6379/0"),
        ("https://u:pa/ss@host/x", "https://u:[REDACTED:url_credentials]@host/x"),
        ("https://u:p@ss@host/", "https://u:[REDACTED:url_credentials]@host/"),
        ("https://u:p@ss/w0rd@db:5432/x", "https://u:[REDACTED:url_credentials]@db:5432/x"),
        ("https://4f3a9c1e7b2d8f6a0c5e@github.com/o/r", "https://[REDACTED:url_credentials]@github.com/o/r"),
        (
            "'https://u:pw@h1', 'https://v:qw@h2'",
            "'https://u:[REDACTED:url_credentials]@h1', 'https://v:[REDACTED:url_credentials]@h2'",
        ),
        ("git clone https://git@github.com/o/r", "git clone https://git@github.com/o/r"),
        ("https://deploy-bot@host/x", "https://deploy-bot@host/x"),
        ("https://[REDACTED:url_credentials]@github.com", "https://[REDACTED:url_credentials]@github.com"),
        ("redis://:[REDACTED:url_credentials]@h", "redis://:[REDACTED:url_credentials]@h"),
    ],
)
def test_url_credential_shapes(text: str, expected: str) -> None:
    assert Redactor(environ={}).redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "assert 'ghp_Q7xv2LmN...D6eFgH1jKlM0n' == 'x'",
        "assert 'AKIAIOSF...EXAMPLE' == 'x'",
        "'glpat-x1y2z3...x1y2z3'",
    ],
)
def test_a_cut_token_of_a_known_format_is_redacted_without_the_variable(text: str) -> None:
    out = Redactor(environ={}).redact(text)
    assert "..." not in out and "[REDACTED:" in out, out


def test_a_test_id_does_not_confirm_a_guessed_secret() -> None:
    """The shown id and the task id are the same whatever the secret's value:
    nothing in them can be checked against a guess."""
    ids = set()
    for value in ("hunter2-a", "hunter2-b", TOKEN):
        redactor = Redactor(environ={"DB_PASSWORD": value})
        node_id = f"t.py::test_login[{value}]"
        shown = shown_node_id(node_id, redactor)
        assert value not in shown and hashlib.sha256(node_id.encode()).hexdigest()[:8] not in shown
        ids.add((shown, task_id_for(node_id, shown)))
    assert len(ids) == 1, ids
    ((shown, task_id),) = ids
    assert task_id == task_id_for(shown)  # from the shown id alone
    assert shown.startswith(f"t.py::test_login[{MARK}]#")


def test_ids_with_secrets_of_different_variables_stay_apart_and_alike_ones_are_refused() -> None:
    redactor = Redactor(environ={"A_TOKEN": "first-s3cret", "B_TOKEN": "second-s3cret"})
    shown = {shown_node_id(f"t.py::test[{v}]", redactor) for v in ("first-s3cret", "second-s3cret")}
    assert len(shown) == 2
    tokens = ["ghp_" + c * 36 for c in "ab"]  # held by no variable: alike once redacted
    tests = [
        CollectedTest(f"t.py::test[{t}]", shown=shown_node_id(f"t.py::test[{t}]", redactor)) for t in tokens
    ]
    problems = make_plan(None, tests).problems
    assert len(problems) == 1 and "give each its own id: pytest.param(value, id=" in problems[0]
    assert all(t not in problems[0] for t in tokens)


def test_task_ids_of_ids_without_secrets_are_unchanged() -> None:
    # Old runs, baselines and docs name these: the derivation is the same as before.
    node_id = "tests/test_api.py::TestLogin::test_ok[admin-1]"
    expected = (
        "tests_test_api.py_TestLogin_test_ok_admin-1-" + hashlib.sha256(node_id.encode()).hexdigest()[:12]
    )
    assert task_id_for(node_id) == task_id_for(node_id, node_id) == expected
