"""pytest-django with a minimal Django project, and xdist's own options."""

from __future__ import annotations

import re

import pytest

from .conftest import FLAKY_STATE, check_decision, other_plugins

SETTINGS = """
SECRET_KEY = "compat-only"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
ROOT_URLCONF = "urls"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""
URLS = """
from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("ping/", lambda request: HttpResponse("pong"))]
"""
DJANGO_TESTS = """
from django.contrib.auth.models import User

def test_user(db):
    User.objects.create_user("ada")
    assert User.objects.count() == 1

def test_no_user_left(db):
    assert User.objects.count() == 0

def test_client(client):
    assert client.get("/ping/").content == b"pong"
"""


@pytest.mark.compat("pytest-django", "db and client fixtures")
def test_django(pytester, gated, row, how):
    pytester.makeini("[pytest]\nDJANGO_SETTINGS_MODULE = settings\npythonpath = .\n")
    pytester.makepyfile(settings=SETTINGS, urls=URLS, test_site=DJANGO_TESTS)
    run = gated(how, plugins=["pytest-django", "django"])
    run.result.stdout.fnmatch_lines(["django: version: *settings: settings (from ini)*"])
    run.result.assert_outcomes(passed=3)
    ev = check_decision(run, row)
    assert set(ev.outcomes) == {f"test_site.py::test_{t}" for t in ("user", "no_user_left", "client")}
    assert set(ev.outcomes.values()) == {"passed"}


CLASSES = """
import os

class TestOne:
    def test_a(self): pass
    def test_b(self): pass
    def test_c(self): pass

class TestTwo:
    def test_a(self): pass
    def test_b(self): pass
    def test_c(self): pass
"""
GROUPS = """
import pytest

@pytest.mark.xdist_group(name="db")
def test_g1(): pass

@pytest.mark.xdist_group(name="db")
def test_g2(): pass

@pytest.mark.xdist_group(name="db")
def test_g3(): pass

def test_free1(): pass
def test_free2(): pass
"""


def _workers_by(ev, key) -> dict[str, set[str]]:
    """The workers that ran each group of tests (``key`` maps a node id to its group)."""
    groups: dict[str, set[str]] = {}
    for node, result in ev.tasks.items():
        groups.setdefault(key(node), set()).update(a["worker"] for a in result["attempts"])
    return groups


def _xdist_args(how: str, dist: str) -> tuple[str, ...]:
    """The scheduling mode alone: dome's default fanout adds -n 2 to it (serially,
    --dome-max-workers=0 keeps it from adding any)."""
    return ("--dist", dist)


@pytest.mark.compat("pytest-xdist", "--dist loadscope")
def test_dist_loadscope(pytester, gated, row, how):
    pytester.makepyfile(test_scoped=CLASSES)
    run = gated(how, *_xdist_args(how, "loadscope"))
    ev = check_decision(run, row)
    assert len(ev.tasks) == 6
    workers = _workers_by(ev, lambda node: node.rsplit("::", 1)[0])
    assert all(len(w) == 1 for w in workers.values()), workers  # one worker per class
    if how == "fanout":
        assert {w for ws in workers.values() for w in ws} <= {"gw0", "gw1"}


@pytest.mark.compat("pytest-xdist", "--dist loadgroup")
def test_dist_loadgroup(pytester, gated, row, how):
    """The group runs on one worker whenever xdist itself groups it (xdist 3.8.0
    does not on pytest 9.2: it renames items through ``item._nodeid``, which
    pytest 9.2 no longer reads); the same run without pytest-dome says which."""
    pytester.makepyfile(test_grouped=GROUPS)
    run = gated(how, *_xdist_args(how, "loadgroup"))
    ev = check_decision(run, row)
    assert len(ev.tasks) == 5
    grouped = _workers_by(ev, lambda node: "db" if "test_g" in node else node)
    if how == "fanout":
        bare_args = ("-p", "no:dome", *other_plugins(()), "-v", "-n", "2", "--dist", "loadgroup")
        bare = pytester.runpytest_subprocess(*bare_args)
        bare_workers = set(re.findall(r"\[(gw\d)\] .* PASSED test_grouped.py::test_g\d", bare.stdout.str()))
        assert len(grouped["db"]) == len(bare_workers), (grouped, bare.stdout.str())


@pytest.mark.compat("pytest-xdist", "--dist worksteal")
def test_dist_worksteal(pytester, gated, row, how):
    pytester.makepyfile(test_scoped=CLASSES, test_grouped=GROUPS)
    run = gated(how, *_xdist_args(how, "worksteal"))
    ev = check_decision(run, row)
    assert len(ev.tasks) == 11
    assert set(ev.outcomes.values()) == {"passed"}


LAST_FAILED = """
from state import fails_first

def test_ok1(): pass
def test_ok2(): pass
def test_was_broken():
    fails_first("broken", times=2)  # fails both attempts of the first run
"""


@pytest.mark.compat("pytest", "--lf after a failing run")
def test_last_failed(pytester, gated, row, how):
    pytester.makepyfile(state=FLAKY_STATE, test_lf=LAST_FAILED)
    first = gated(how)
    assert first.evidence().outcomes["test_lf.py::test_was_broken"] == "failed"
    run = gated(how, "--lf")
    run.result.assert_outcomes(passed=1)
    ev = check_decision(run, row)
    assert ev.outcomes == {"test_lf.py::test_was_broken": "passed"}  # only the last failure ran


STOPS = """
def test_1_ok(): pass
def test_2_broken(): assert False, "broken"
def test_3_ok(): pass
def test_4_ok(): pass
"""


@pytest.mark.compat("pytest", "--sw")
def test_stepwise(pytester, gated, row, how):
    pytester.makepyfile(test_steps=STOPS)
    run = gated(how, "--sw")
    run.result.stdout.fnmatch_lines(["*Interrupted: Test failed, continuing from this test next run*"])
    ev = check_decision(run, row)
    assert ev.outcomes["test_steps.py::test_4_ok"] == ("missing" if how == "serial" else "passed")
    assert ev.outcomes["test_steps.py::test_2_broken"] == "failed"
    assert ev.outcomes["test_steps.py::test_1_ok"] == "passed"
    assert set(ev.tasks) == {f"test_steps.py::test_{n}" for n in ("1_ok", "2_broken", "3_ok", "4_ok")}


@pytest.mark.compat("pytest", "--maxfail=1")
def test_maxfail(pytester, gated, row, how):
    pytester.makepyfile(test_steps=STOPS)
    run = gated(how, "--maxfail=1", *(("-n", "2") if how == "fanout" else ()))
    run.result.stdout.fnmatch_lines(["*stopping after 1 failures*"])
    ev = check_decision(run, row)
    assert ev.outcomes["test_steps.py::test_2_broken"] == "failed"
    # Serially the tests after the failure never run; at -n 2 the four were
    # handed to the workers at the start, and a worker finishes what it was given.
    assert ev.outcomes["test_steps.py::test_4_ok"] == ("missing" if how == "serial" else "passed")
    assert set(ev.tasks) == {f"test_steps.py::test_{n}" for n in ("1_ok", "2_broken", "3_ok", "4_ok")}
