from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from pytest_dome.core.checkers import check
from pytest_dome.runfolder.audit import verify_run

pytest_plugins = ["pytester", "history_db"]  # history_db: the run history's databases

# No per-example deadline: CI machines are shared, and the first example of a
# property test also pays for building validators. Determinism comes from the
# properties, not from timing.
settings.register_profile("dome", deadline=None)
settings.load_profile("dome")


@dataclass
class RunEvidence:
    """A run folder, parsed; every artifact was checked against its schema."""

    path: Path
    manifest: dict[str, Any]
    gate: dict[str, Any]
    promotion: dict[str, Any]
    verify: dict[str, Any]
    plan: dict[str, Any]
    session: dict[str, Any]
    tasks: dict[str, dict[str, Any]]  # node id -> task result

    @property
    def outcomes(self) -> dict[str, str]:
        return {node: r["outcome"] for node, r in self.tasks.items()}


def load_run(run_dir: Path) -> RunEvidence:
    """Parse a run folder, failing the test on any schema, catalog or hash problem."""
    problems = [str(p) for p in verify_run(run_dir)]  # schemas, hashes, completeness, replay
    assert problems == [], problems

    def read(rel: str, kind: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((run_dir / rel).read_text())
        assert check(kind, doc) == []
        return doc

    complete = json.loads((run_dir / "run.manifest.json").read_text())["state"] == "complete"
    tasks = [
        read(p.relative_to(run_dir).as_posix(), "task.result")
        for p in sorted((run_dir / "task_results").glob("*.result.json"))
    ]
    return RunEvidence(
        path=run_dir,
        manifest=read("run.manifest.json", "run.manifest"),
        gate=read("gate/gate.decision.json", "gate.decision") if complete else {},
        promotion=read("promotion/promotion.decision.json", "promotion.decision") if complete else {},
        verify=read("checks/verify.results.json", "verify.results"),
        plan=read("plan.json", "plan"),
        session=read("checks/session.json", "session"),
        tasks={t["node_id"]: t for t in tasks},
    )


@pytest.fixture(autouse=True)
def _serial_by_default(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner gated runs are serial unless a test asks for workers (-n, or by
    removing this default to test the two-worker fanout itself). Set after
    pytester, which clears PYTEST_ADDOPTS when it starts."""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")
        monkeypatch.setenv("PYTEST_ADDOPTS", "--dome-max-workers=0")


@dataclass(frozen=True)
class Mode:
    """How an inner gated run is executed: serially, or by one or two xdist workers."""

    name: str
    args: tuple[str, ...]
    """To pass to pytester's runpytest or runpytest_subprocess."""
    workers: int

    @property
    def execution(self) -> dict[str, Any]:
        """The manifest's ``execution`` of a run in this mode."""
        return {"mode": "xdist" if self.workers else "serial", "workers": self.workers or 1}


MODES = (Mode("serial", ("-n", "0"), 0), Mode("n1", ("-n", "1"), 1), Mode("n2", ("-n", "2"), 2))


@pytest.fixture(params=MODES, ids=[m.name for m in MODES])
def mode(request: pytest.FixtureRequest) -> Mode:
    """The end-to-end tests of the decision, retries, faults and redaction run in
    each mode: the same suite must give the same decision and evidence in all."""
    mode: Mode = request.param
    return mode


@pytest.fixture
def dome_run(pytester: pytest.Pytester):
    """Read the evidence of run ``run_id`` written under the pytester folder."""

    def read(run_id: str = "r1", runtime: str = "ops/runtime/runs") -> RunEvidence:
        return load_run(pytester.path / runtime / run_id)

    return read
