"""End to end: each form a secret takes in pytest's output (shortened, repr-escaped,
JSON-escaped, percent-encoded; in a test id, an xfail reason, a record_property
value; URL credentials; the newly secret variables) reaches neither the terminal,
nor junit XML, nor the run folder, nor .pytest_cache, serially and under -n 2."""

from __future__ import annotations

import hashlib
import html
import json

import pytest

from pytest_dome.core.secretforms import CUT, forms_of

GH_TOKEN = "ghp_Q7xv2LmNpR4sT6uV8wX0yZ1aB3cD6eFgH1jKlM0n"
DB_PASSWORD = "Zq8Rt\\Wv4Ln\"Kp3Jh'Xm9Ts/Bd7Fw&<"
ENV = {
    "GH_TOKEN": GH_TOKEN,
    "DB_PASSWORD": DB_PASSWORD,
    "PGPASSWORD": "Pg5Ux8Wq2Lz",
    "MYSQL_PWD": "My4Kd9Rb3Vn",
    "GPG_PASSPHRASE": "Gp7Hs2Jm6Tq",
    "ORG_PAT": "Pa3Xc8Nv5Bw",
    "SENTRY_DSN": "https://Se4f3a9c1e7b2d8f@o1.ingest.sentry.io/5",
    "DATABASE_URL": "postgres://app:Ur6/Qm@4zK9w@db:5432/app",
}
KNOWN = [GH_TOKEN, DB_PASSWORD, *[ENV[n] for n in ("PGPASSWORD", "MYSQL_PWD", "GPG_PASSPHRASE", "ORG_PAT")]]
KNOWN += ["Se4f3a9c1e7b2d8f", "Ur6/Qm@4zK9w"]  # the DSN's key, the URL's password
IN_URLS = ["Rd2Hk7Vx9Mq", "Sl/4Nb8@Tz3", "4f3a9c1e7b2d8f6a0c5e"]  # held by no variable

SUITE = """
import json, os, urllib.parse
import pytest

ENV = os.environ

def test_shortened():
    assert ENV["GH_TOKEN"] == "x"

def test_repr_escaped():
    assert ENV["DB_PASSWORD"] == "x"

def test_json_and_percent_encoded():
    print(json.dumps({"password": ENV["DB_PASSWORD"]}))
    print("dsn=" + urllib.parse.quote(ENV["DB_PASSWORD"], safe=""))
    assert urllib.parse.quote_plus(ENV["DB_PASSWORD"]) == "x"

def test_new_variable_names():
    names = ("PGPASSWORD", "MYSQL_PWD", "GPG_PASSPHRASE", "ORG_PAT")
    print([ENV[n] for n in names], ENV["SENTRY_DSN"])
    password = ENV["DATABASE_URL"].split("://", 1)[1].rsplit("@", 1)[0].split(":", 1)[1]
    assert password == "x"

def test_url_credentials():
    print("redis://:Rd2Hk7Vx9Mq@cache:6379/0", "https://u:Sl/4Nb8@Tz3@host/x")
    print("https://4f3a9c1e7b2d8f6a0c5e@github.com/o/r")
    assert False

@pytest.mark.xfail(reason="rotate " + ENV["GH_TOKEN"], strict=True)
def test_xfail_reason():
    assert False

def test_imperative_xfail():
    pytest.xfail("password " + ENV["DB_PASSWORD"])

def test_property(record_property):
    record_property("token", ENV["GH_TOKEN"])
    record_property("dsn", {"password": ENV["DB_PASSWORD"]})

@pytest.mark.parametrize("secret", [ENV["PGPASSWORD"], ENV["DB_PASSWORD"], "plain"])
def test_id(secret):
    assert secret == "plain"
"""


def leaks(text: str) -> list[str]:
    """Runs of CUT or more characters of a form of a secret in ``text`` (not of its
    HTML-escaped forms: ``quot`` of ``&quot;`` is XML's, not the secret's)."""
    found = []
    for secret in KNOWN + IN_URLS:
        for form in forms_of(secret) - {html.escape(secret), html.escape(secret, quote=False)}:
            found += [form[i : i + CUT] for i in range(len(form) - CUT + 1) if form[i : i + CUT] in text]
    return found


@pytest.mark.parametrize(
    "workers", [pytest.param(("-n", "0"), id="serial"), pytest.param(("-n", "2"), id="n2")]
)
def test_no_form_of_a_secret_leaks(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dome_run, workers: tuple[str, ...]
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(test_forms=SUITE)
    result = pytester.runpytest_subprocess(
        "--dome-run-id=r1", *workers, "-p", "no:randomly", "-v", "-rA", "--junitxml=junit.xml"
    )
    assert result.ret == 1
    run = dome_run("r1")  # the evidence verifies
    outcomes = {node.split("::")[1].split("[")[0]: outcome for node, outcome in run.outcomes.items()}
    assert outcomes["test_xfail_reason"] == "xfailed" and outcomes["test_property"] == "passed"
    assert len(run.tasks) == 11
    assert run.manifest["execution"]["mode"] == ("xdist" if workers[1] == "2" else "serial")
    junit = (pytester.path / "junit.xml").read_text()
    cache = pytester.path / ".pytest_cache"
    searched = {"stdout": result.stdout.str(), "stderr": result.stderr.str(), "junit.xml": junit}
    for folder in (run.path, cache):
        searched |= {str(p): p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()}
    assert (cache / "v/cache/lastfailed").is_file() and len(searched) > 20
    for where, text in searched.items():
        assert leaks(text) == [], where
    # ... and each form was there to be redacted, where the issue saw it leak:
    assert "assert '[REDACTED:env_secret]...[REDACTED:env_secret]' == 'x'" in searched["stdout"]
    assert "XFAIL test_forms.py::test_xfail_reason - rotate [REDACTED:env_secret]" in searched["stdout"]
    assert '<property name="token" value="[REDACTED:env_secret]"' in junit
    assert 'message="rotate [REDACTED:env_secret]"' in junit
    assert "redis://:[REDACTED:url_credentials]@cache" in junit
    # No file name holds a hash of a real node id (a guessed secret cannot be checked).
    real = [
        f"test_forms.py::test_id[{ENV['PGPASSWORD']}]",
        "test_forms.py::test_id[" + DB_PASSWORD.encode("unicode_escape").decode() + "]",
    ]
    names = " ".join(str(p.name) for p in run.path.rglob("*")) + json.dumps(run.plan)
    for node_id in real:
        digest = hashlib.sha256(node_id.encode()).hexdigest()
        assert digest[:8] not in names and digest[:8] not in searched["junit.xml"], node_id
