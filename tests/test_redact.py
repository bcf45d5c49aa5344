"""The redactor: secrets out, markers that name the kind, counts by kind."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_dome.core.redact import BATCH, Redactor, tail

SAMPLES = {
    "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
    "github_token": "ghp_" + "a1B2c3D4e5" * 4,
    "gitlab_token": "glpat-" + "x1y2z3" * 4,
    "slack_token": "xoxb-1234567890-abcdefghij",
    "stripe_key": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "google_api_key": "AIza" + "SyA-1234567890abcdefghijklmnopqrstu",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_token_formats(kind: str) -> None:
    redactor = Redactor(environ={})
    secret = SAMPLES[kind]
    out = redactor.redact(f"error: token={secret} rejected")
    assert secret not in out and secret[:8] not in out
    assert out == f"error: token=[REDACTED:{kind}] rejected"
    assert redactor.counts == {kind: 1}


def test_env_secret_values_and_short_values_left_alone() -> None:
    env = {"DEPLOY_TOKEN": "s3cr3t-value-42", "AUTH": "on", "GIT_AUTHOR_NAME": "Ada Lovelace"}
    redactor = Redactor(environ=env)
    out = redactor.redact("using s3cr3t-value-42 by Ada Lovelace with AUTH on")
    assert out == "using [REDACTED:env_secret] by Ada Lovelace with AUTH on"


def test_bearer_url_credentials_and_pem() -> None:
    redactor = Redactor(environ={})
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----"
    text = f"Authorization: Bearer abcdef123456789\nhttps://deploy:hunter22@example.com/x\n{pem}\n"
    out = redactor.redact(text)
    assert out == (
        "Authorization: Bearer [REDACTED:bearer_token]\n"
        "https://deploy:[REDACTED:url_credentials]@example.com/x\n[REDACTED:private_key]\n"
    )
    assert redactor.counts == {"bearer_token": 1, "url_credentials": 1, "private_key": 1}


def test_a_redacted_url_password_is_not_found_again() -> None:
    # SLO-4 scans evidence with the redactor: its own marker must not count as a leak.
    redactor = Redactor(environ={})
    text = "https://deploy:[REDACTED:url_credentials]@example.com/x"
    assert redactor.redact(text) == text and redactor.counts == {}


def test_tail_marks_a_cut() -> None:
    assert tail("short", 10) == "short"
    cut = tail("x" * 50, 20)
    assert len(cut) == 20 and cut.startswith("[...]\n")


SECRETISH = st.sampled_from(
    ["ghp_" + "a" * 36, "AKIA" + "B" * 16, "xoxb-1234567890ab", "hunter2secret", "::"]
)


@settings(max_examples=200)
@given(st.lists(st.lists(SECRETISH | st.text(max_size=8), max_size=4).map("".join), max_size=6))
def test_one_search_never_misses_what_redacting_each_would_change(texts: list[str]) -> None:
    redactor = Redactor(environ={"DB_PASSWORD": "hunter2secret"})
    if any(redactor.redact(t) != t for t in texts):
        assert not redactor.finds_nothing(texts)


def test_one_search_passes_clean_node_ids() -> None:
    ids = [f"tests/test_m{i}.py::test_{i}[a-b]" for i in range(100)]
    assert Redactor(environ={}).finds_nothing(ids)
    assert not Redactor(environ={}).finds_nothing([*ids, "t.py::test[ghp_" + "a" * 36 + "]"])


@pytest.mark.parametrize("at", [0, BATCH - 1, BATCH, 2 * BATCH + 7])
def test_one_search_in_batches_finds_a_secret_in_any_of_them(at: int) -> None:
    # Searched a batch at a time (a suite's ids joined at once made one text as long
    # as all of them): a secret in any batch, first or last, at either edge, is found.
    ids = [f"tests/test_m.py::test_\u00e9t\u00e9[{i}]" for i in range(2 * BATCH + 8)]
    redactor = Redactor(environ={"DB_PASSWORD": "hunter2secret"})
    assert redactor.finds_nothing(ids)
    ids[at] = f"tests/test_m.py::test_login[hunter2secret-{at}]"
    assert not redactor.finds_nothing(ids)
    assert not redactor.finds_nothing(iter(ids))  # any iterable, read once


def _every_pattern(redactor: Redactor, text: str) -> str:
    """What redact did before the literal prefilter: every pattern, in order."""
    return redactor._redact(text, named=False, counts=Counter(), every=True)


FRAGMENTS = st.sampled_from(
    [
        *SAMPLES.values(),
        "Bearer abcdefgh12345678",
        "BEARER abcdefgh12345678",
        "https://user:hunter2hunter2@example.com/x",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----",
        "tests/test_api.py::test_login[",
        "::",
        " ",
        "\n",
        "eyJ",
        "ghp_",
        "_live_",
        "A3T",
        "://",
        "bearer",
    ]
)


@settings(max_examples=300)
@given(st.lists(FRAGMENTS | st.text(max_size=12), max_size=8).map("".join))
def test_the_literal_prefilter_never_changes_what_is_redacted(text: str) -> None:
    redactor = Redactor(environ={"API_TOKEN": "s3cr3t-value"}, extra_patterns=[("ticket", r"TCK-\d{4}")])
    assert redactor.redact(text) == _every_pattern(redactor, text)
    assert redactor.redact(text + " TCK-1234") == _every_pattern(redactor, text + " TCK-1234")
    assert redactor.finds_nothing([text]) == (_every_pattern(redactor, text) == text)


def test_a_secret_named_variable_that_names_a_file_is_a_path_not_a_secret(tmp_path) -> None:
    # GOOGLE_APPLICATION_CREDENTIALS holds the path of the key file, which CI puts
    # in the workspace: every 10 characters of it would be cut out of every path.
    key_file = tmp_path / "gcp-key.json"
    key_file.write_text("{}")
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file), "API_TOKEN": "tok-9f8e7d6c5b4a"}
    redactor = Redactor(environ=env)
    text = f"{tmp_path}/tests/test_x.py:12: tok-9f8e7d6c5b4a"
    assert redactor.redact(text) == f"{tmp_path}/tests/test_x.py:12: [REDACTED:env_secret]"
