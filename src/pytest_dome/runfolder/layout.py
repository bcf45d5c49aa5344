"""A run folder's layout: where each artifact lives, relative to the run folder.

A leaf of names only, so that the reader and the writer (and the commands over
them) share the paths without the reader importing the writer.
"""

from __future__ import annotations

MANIFEST = "run.manifest.json"
STARTED = "run.started.json"
GATE = "gate/gate.decision.json"
PROMOTION = "promotion/promotion.decision.json"
VERIFY = "checks/verify.results.json"
SESSION = "checks/session.json"
POLICY = "inputs/risk.policy.json"
CHANGE_SET = "inputs/change_set.json"
PACKET = "inputs/packet.json"
BASELINE = "inputs/baseline.summary.json"
QUARANTINE = "inputs/quarantine.json"
PLAN = "plan.json"
ENVELOPE = "promotion/xtrlv2.envelope.json"
OVERRIDES = "promotion/overrides.jsonl"
TASK_RESULTS = "task_results"


RESULT_SUFFIX = ".result.json"


def task_result_path(task_id: str) -> str:
    return f"{TASK_RESULTS}/{task_id}{RESULT_SUFFIX}"
