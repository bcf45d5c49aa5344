"""The ``[tool.dome]`` keys as keys of pytest's own configuration file.

A leaf: the plugin registers these keys (``parser.addini``) and ``inifile`` reads
them, so both import it and neither imports the other. It is imported by an
inactive plugin too, so it holds data only: the keys, and the default runtime
folder (defined here once: the plugin's help, the settings and the ``dome``
command all name it).
"""

from __future__ import annotations

from typing import Literal

OUTPUT_ROOT = "ops/runtime"
"""Where dome's generated files go by default, relative to the rootdir (run folders,
attestations, the SLO history): not the code under test."""
DEFAULT_RUNTIME_DIR = f"{OUTPUT_ROOT}/runs"
"""The default runtime folder (``[tool.dome] runtime_dir``), relative to the rootdir."""

# The [tool.dome] keys as keys of pytest's own config file (pytest.ini, tox.ini,
# setup.cfg, ...): ini name, pytest type, the [tool.dome] key (a path) and help.
# Scalars are registered as strings and checked by ``inifile`` (pytest's own "int",
# "float" and "bool" would fail with a message that names no key); a "linelist" is
# one value per line. Read by ``inifile.ini_table``.
INI_KEYS: tuple[tuple[str, Literal["string", "linelist"], tuple[str, ...], str], ...] = (
    ("dome_runtime_dir", "string", ("runtime_dir",), "runtime folder, relative to the rootdir"),
    ("dome_policy", "string", ("policy",), "risk policy JSON file, relative to the rootdir"),
    ("dome_risk_threshold", "string", ("risk_threshold",), "risk threshold, 0 to 100"),
    ("dome_fail_on", "linelist", ("fail_on",), "gate statuses that fail the session (NEEDS_HUMAN, REJECT)"),
    ("dome_verify", "linelist", ("verify",), "verify commands, one per line, split like a shell would"),
    ("dome_verify_timeout", "string", ("verify_timeout",), "seconds each verify command may run"),
    ("dome_packet", "string", ("packet",), "packet JSON file, relative to the rootdir"),
    ("dome_quarantine", "string", ("quarantine",), "quarantine TOML file, relative to the rootdir"),
    ("dome_base_ref", "string", ("base_ref",), "git ref the change set is computed against"),
    ("dome_max_workers", "string", ("work", "queue", "max_workers"), "xdist workers by default (0: serial)"),
    ("dome_max_retries", "string", ("work", "queue", "max_retries"), "retries of a failed task, 0 to 10"),
    ("dome_history", "string", ("history",), "run history store: a SQLite path, postgresql://..., or off"),
    ("dome_redact_reports", "string", ("redact_reports",), "redact test reports (true or false)"),
    (
        "dome_allow_external_runtime_dir",
        "string",
        ("allow_external_runtime_dir",),
        "allow a runtime_dir that resolves outside the project (true or false)",
    ),
)
