"""Secret canaries planted in a gated run (environment, node ids, the branch the CI
names) reach neither the SQLite file nor the PostgreSQL tables of the run history."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_dome.core.redact import Redactor
from pytest_dome.history.store import open_store
from pytest_dome.history.url import parse

from .test_canary import AWS_CANARY, CANARIES, ENV_CANARY, GITHUB_CANARY


def test_no_canary_reaches_the_history_store(
    pytester: pytest.Pytester, monkeypatch, history_url: str
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", ENV_CANARY)
    monkeypatch.setenv("GITHUB_HEAD_REF", f"fix-{ENV_CANARY}")
    monkeypatch.setenv("CI_JOB_ID", f"job-{GITHUB_CANARY}")
    pytester.makepyfile(
        f"""
        import os, pytest
        @pytest.mark.parametrize("key", ["{GITHUB_CANARY}", "{AWS_CANARY}", os.environ["DEPLOY_TOKEN"]])
        def test_secret_in_test_id(key):
            assert key != "{AWS_CANARY}"
        """
    )
    result = pytester.runpytest_subprocess("--dome-run-id=r1", f"--dome-history={history_url}")
    assert result.ret == 1
    url = parse(history_url, Path("/"), "test")
    assert url is not None
    with open_store(url, Redactor({})) as store:  # reads only
        runs = store.query("SELECT * FROM runs")
        tasks = store.query("SELECT * FROM tasks")
        states = store.query("SELECT state FROM runs")
    assert len(runs) == 1 and len(tasks) == 3 and states == [("decided",)]
    dumped = repr(runs) + repr(tasks)
    searched = {"rows": dumped}
    if url.kind == "sqlite":
        for path in Path(url.target).parent.glob(Path(url.target).name + "*"):
            searched[str(path)] = path.read_bytes().decode("latin-1")
    for where, text in searched.items():
        for canary in CANARIES:
            assert canary not in text, (canary, where)
    for marker in ("[REDACTED:github_token]", "[REDACTED:aws_access_key_id]", "[REDACTED:env_secret]"):
        assert marker in dumped
