"""``dome quarantine suggest``: quarantine entries proposed from ``dome flaky``'s
evidence, printed in the quarantine file's format (``dome-quarantine.toml``,
ssot/schemas/quarantine.schema.json). It never writes a file: a person reads,
fills in and commits what they accept.

Each proposal's ``tracking`` is a placeholder that is not a URL, so a file with
an entry pasted as it is gets refused until someone links the issue; the owner
is ``--owner`` or a placeholder; the expiry is a bounded horizon (``--expires-in``
days from today, UTC; the policy allows at most ``quarantine.max_days``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

OWNER_PLACEHOLDER = "FILL IN: the person or team who fixes it"
TRACKING_PLACEHOLDER = "FILL IN: the https:// link of the issue that tracks the fix"
WILDCARDS = ("*", "?")


def pattern_of(task: Any) -> str:
    """The test's node id, matched whole; its task id when the node id holds a
    character the pattern would read as a wildcard."""
    node: str = task.node_id
    return task.task_id if any(c in node for c in WILDCARDS) else node


def _toml(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def suggestions(tests: Sequence[Any], what: str, owner: str | None, min_flaked: int, days: int) -> str:
    """The entries for the tests that flaked in ``min_flaked`` runs or more, as TOML."""
    expires = (datetime.now(timezone.utc).date() + timedelta(days=days)).isoformat()
    chosen = [t for t in tests if t.flaked >= min_flaked]
    lines = [
        f"# dome quarantine suggest: {len(chosen)} of {len(tests)} flaky test(s) over {what}",
        f"# (those that flaked in {min_flaked} runs or more). Proposals only: nothing was written.",
        "# Fill in each owner and tracking link, then add the entries you accept to the quarantine file.",
    ]
    if not chosen:
        return "\n".join([*lines, "# nothing to propose"])
    lines += ['schema_version = "1.0.0"', 'kind = "quarantine"']
    for t in chosen:
        low, high = t.interval
        reason = (
            f"flaky: flaked in {t.flaked} of {t.ran} runs ({t.rate:.1%}, 95% CI {low:.1%}-{high:.1%}; "
            f"{t.retried} passed on retry, {t.flipped} failed on a commit that also passed), "
            f"first {t.first_seen[:10]}, last {t.last_seen[:10]}"
        )
        runs = ", ".join(t.evidence[:10]) + (" ..." if len(t.evidence) > 10 else "")
        lines += [
            "",
            f"# evidence: runs {runs}",
            "[[entries]]",
            f"pattern = {_toml(pattern_of(t))}",
            f"owner = {_toml(owner or OWNER_PLACEHOLDER)}",
            f"reason = {_toml(reason)}",
            f"tracking = {_toml(TRACKING_PLACEHOLDER)}",
            f"expires = {expires}",
        ]
    return "\n".join(lines)
