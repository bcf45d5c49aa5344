"""The real suites' variants (issue 22): bare pytest, the reporters users already run,
and dome, each with its plugins loaded by ``-p`` and nothing else.

Every real-suite run has ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``, so no variant pays for
a plugin that is installed in the venv but not its own (the venv holds all of them):

- bare: pytest's built-in plugins only;
- junit: ``--junitxml=FILE`` (built in);
- reportlog: ``-p pytest_reportlog.plugin --report-log=FILE``;
- json-report: ``-p pytest_jsonreport.plugin -p pytest_metadata.plugin --json-report
  --json-report-file=FILE`` (pytest-metadata is its dependency, loaded with it when
  plugins autoload; ``--json-report-omit`` is not given: the default report);
- dome: ``-p pytest_dome.plugin --dome-run-id=ID --dome-out=FOLDER --dome-replace``,
  its run folders on tmpfs (dome-tmpfs), in a fresh folder of the work folder's file
  system (dome-disk), or replacing there the run of the same id that an earlier run
  of the suite and mode left (dome-disk-replace); dome-nohistory is dome-tmpfs with
  ``--dome-history=off``: what the default run history store (a SQLite file in the
  runtime folder, kept across the rounds as a team's would be) costs a session;
- with ``-n 2``, ``-p xdist`` too; serially no xdist at all.

Every reporter's output, like dome-tmpfs's run folders, goes to tmpfs (``/dev/shm``,
the work folder when there is none) and is removed after its run, untimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

AUTOLOAD_OFF = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
MODES = {"serial": [], "n2": ["-p", "xdist", "-n", "2"]}
CONFIGS = (
    "bare",
    "junit",
    "reportlog",
    "json-report",
    "dome-tmpfs",
    "dome-nohistory",
    "dome-disk",
    "dome-disk-replace",
)
PEERS = ("junit", "reportlog", "json-report")
"""The reporters dome is compared with, in the order the report shows them."""
ROLES = (("helpers", "_writer.py"), ("workers", "exec(eval("))
"""The processes of a run's tree, by a part of their command line: dome's result writer
(``python -I -S .../_writer.py``), and xdist's workers (execnet's ``python -c "import
sys;exec(eval(sys.stdin.readline()))"``). The deciding process is the run's own."""


@dataclass(frozen=True)
class Variant:
    options: list[str]  # the plugins (-p) and their options
    leftover: Path | None  # the output, removed after the run (untimed) when on tmpfs
    run_dir: Path | None  # dome's run folder, checked after the run
    on_tmpfs: bool


def variant(config: str, tag: str, tmpfs: Path, disk: Path, replace_id: str | None = None) -> Variant:
    """The options of ``config`` for the run ``tag``: outputs under ``tmpfs`` (dome-disk's
    run folders under ``disk``); dome-disk-replace runs as ``replace_id``."""
    if config == "bare":
        return Variant([], None, None, True)
    if config == "junit":
        out = tmpfs / f"{tag}.xml"
        return Variant([f"--junitxml={out}"], out, None, True)
    if config == "reportlog":
        out = tmpfs / f"{tag}.jsonl"
        return Variant(["-p", "pytest_reportlog.plugin", f"--report-log={out}"], out, None, True)
    if config == "json-report":
        out = tmpfs / f"{tag}.json"
        plugins = ["-p", "pytest_jsonreport.plugin", "-p", "pytest_metadata.plugin"]
        return Variant([*plugins, "--json-report", f"--json-report-file={out}"], out, None, True)
    if config.startswith("dome-"):
        run_id = replace_id if config == "dome-disk-replace" and replace_id else tag
        out = tmpfs / "dome" if config in ("dome-tmpfs", "dome-nohistory") else disk
        options = ["-p", "pytest_dome.plugin", f"--dome-run-id={run_id}", f"--dome-out={out}"]
        tmp = config in ("dome-tmpfs", "dome-nohistory")
        if config == "dome-nohistory":  # what the run history store costs: dome-tmpfs without it
            options.append("--dome-history=off")
        return Variant([*options, "--dome-replace"], out / run_id if tmp else None, out / run_id, tmp)
    raise ValueError(f"unknown real-suite configuration {config!r}")


def shown(config: str, disk_fs: str) -> str:
    """A configuration as the report names it: dome-disk as dome-<its file system>."""
    return config.replace("dome-disk", f"dome-{disk_fs}") if config.startswith("dome-disk") else config
