"""The [tool.dome] keys in pytest's own configuration file: pytest.ini, tox.ini, setup.cfg."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_dome.config.inifile import IniValues, file_table, ini_table
from pytest_dome.config.inikeys import INI_KEYS
from pytest_dome.config.options import ConfigError
from pytest_dome.contracts import ssot

TESTS = "import pytest\ndef test_ok(): pass\ndef test_skip(): pytest.skip('later')\n"

# The same settings twice: as [tool.dome], and as dome_* keys of pytest's ini section.
PYPROJECT = """
[tool.dome]
runtime_dir = "evidence"
risk_threshold = 5
fail_on = ["NEEDS_HUMAN"]
verify = [["python", "-c", "print('one')"], ["python", "-c", "print('two words')"]]
verify_timeout = 30
base_ref = "HEAD"
redact_reports = false

[tool.dome.work.queue]
max_retries = 0
"""
INI_LINES = """
dome_runtime_dir = evidence
dome_risk_threshold = 5
dome_fail_on = NEEDS_HUMAN
dome_verify =
    python -c "print('one')"
    python -c "print('two words')"
dome_verify_timeout = 30
dome_base_ref = HEAD
dome_redact_reports = false
dome_max_retries = 0
"""
SECTIONS = {"pytest.ini": "[pytest]", "tox.ini": "[pytest]", "setup.cfg": "[tool:pytest]"}


def write_ini(pytester: pytest.Pytester, name: str, lines: str) -> None:
    (pytester.path / name).write_text(f"{SECTIONS[name]}\n{lines.strip()}\n")


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_ini_file_configures_the_gate_as_tool_dome_does(
    pytester: pytest.Pytester, dome_run, name: str
) -> None:
    pytester.makepyfile(TESTS)
    pytester.makepyprojecttoml(PYPROJECT)
    assert pytester.runpytest("--dome-run-id=toml").ret == 1  # NEEDS_HUMAN, and fail_on says so
    (pytester.path / "pyproject.toml").unlink()
    write_ini(pytester, name, INI_LINES)
    result = pytester.runpytest("--dome-run-id=ini")
    assert result.ret == 1
    toml, ini = dome_run("toml", runtime="evidence"), dome_run("ini", runtime="evidence")
    assert ini.gate["status"] == "NEEDS_HUMAN" and ini.gate["risk"]["threshold"] == 5
    assert [c["output_tail"] for c in ini.verify["commands"]] == ["one\n", "two words\n"]
    assert toml.manifest["config"]["threshold_source"] == "pyproject"
    assert ini.manifest["config"] == {**toml.manifest["config"], "threshold_source": "ini"}
    assert ini.manifest["config"]["max_retries"] == 0 and ini.manifest["config"]["verify_timeout_s"] == 30


def test_options_win_over_the_ini_file(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(TESTS)
    write_ini(pytester, "tox.ini", INI_LINES)
    result = pytester.runpytest(
        "--dome-run-id=r1",
        "--dome-risk-threshold=60",
        "--dome-fail-on=REJECT",
        "--dome-out=elsewhere",
        "--dome-verify=python -c pass",
        "--dome-verify-timeout=9",
        "--dome-max-retries=2",
    )
    assert result.ret == 0
    config = dome_run(runtime="elsewhere").manifest["config"]
    assert config["threshold_source"] == "option" and config["risk_threshold"] == 60
    assert config["fail_on"] == ["REJECT"] and config["verify_timeout_s"] == 9 and config["max_retries"] == 2
    # --dome-verify adds to the file's commands, as it does to [tool.dome]'s.
    assert config["verify"][-1] == ["python", "-c", "pass"] and len(config["verify"]) == 3


def test_default_fanout_reads_the_ini_file(pytester: pytest.Pytester, dome_run, monkeypatch) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS")  # the suite's own --dome-max-workers=0
    pytester.makepyfile(TESTS)
    write_ini(pytester, "setup.cfg", "dome_max_workers = 1")
    assert pytester.runpytest_subprocess("--dome-run-id=r1", "-p", "no:randomly").ret == 0
    run = dome_run()
    assert run.manifest["execution"] == {"mode": "xdist", "workers": 1}
    assert run.manifest["config"]["max_workers"] == 1


def test_tool_dome_and_ini_keys_together_are_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    pytester.makepyprojecttoml("[tool.dome]\nrisk_threshold = 5\n")
    write_ini(pytester, "tox.ini", "dome_verify_timeout = 30\ndome_max_retries = 0")
    result = pytester.runpytest_subprocess("--dome-run-id=r1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert errors == [
        "ERROR: pytest-dome settings are in both pyproject.toml [tool.dome] and tox.ini [pytest] "
        "(dome_max_retries, dome_verify_timeout); keep them in one of the two"
    ]
    assert not (pytester.path / "ops").exists()


def test_override_ini_wins_over_tool_dome(pytester: pytest.Pytester, dome_run) -> None:
    """``-o dome_<key>=VALUE`` is given on the command line: not a second file."""
    pytester.makepyfile(TESTS)
    pytester.makepyprojecttoml("[tool.dome]\nrisk_threshold = 5\nverify_timeout = 30\n")
    assert pytester.runpytest("--dome-run-id=r1", "-o", "dome_risk_threshold=60").ret == 0
    config = dome_run().manifest["config"]
    # Set for this run on the command line, not by a committed file: its own source.
    assert config["risk_threshold"] == 60 and config["threshold_source"] == "override_ini"
    assert config["verify_timeout_s"] == 30  # the rest of [tool.dome] still applies


def test_override_ini_over_an_ini_file_is_recorded_as_override(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(TESTS)
    write_ini(pytester, "tox.ini", "dome_risk_threshold = 5\ndome_max_retries = 0")
    assert pytester.runpytest("--dome-run-id=r1", "-o", "dome_risk_threshold=60").ret == 0
    assert pytester.runpytest("--dome-run-id=r2", "-o", "dome_max_retries=1").ret == 0
    keys = ("risk_threshold", "threshold_source", "max_retries")
    first, second = (tuple(dome_run(run).manifest["config"][k] for k in keys) for run in ("r1", "r2"))
    assert first == (60, "override_ini", 0)
    assert second == (5, "ini", 1)  # -o of another key: the file's threshold is the file's


BAD = {
    "threshold out of range": (
        "pytest.ini",
        "dome_risk_threshold = 101",
        "pytest.ini [pytest] dome_risk_threshold: '101' is not a score from 0 to 100; give one",
    ),
    "workers not a number": (
        "tox.ini",
        "dome_max_workers = lots",
        "tox.ini [pytest] dome_max_workers: 'lots' is not a whole number from 0 to 256",
    ),
    "unknown status": (
        "setup.cfg",
        "dome_fail_on =\n    NEEDS_HUMAN\n    MAYBE",
        "setup.cfg [tool:pytest] dome_fail_on: unknown status 'MAYBE'; use NEEDS_HUMAN and/or REJECT",
    ),
    "not a boolean": (
        "tox.ini",
        "dome_redact_reports = maybe",
        "tox.ini [pytest] dome_redact_reports: 'maybe' is not true or false",
    ),
    "verify unbalanced quote": (
        "pytest.ini",
        "dome_verify = echo 'x",
        'pytest.ini [pytest] dome_verify "echo \'x": No closing quotation; quote it as a shell would',
    ),
    "verify program missing": (
        "setup.cfg",
        "dome_verify = no-such-tool --x",
        "verify command 'no-such-tool --x' (setup.cfg [tool:pytest] dome_verify): "
        "program 'no-such-tool' not found",
    ),
    "empty path": ("tox.ini", "dome_policy =", "tox.ini [pytest] dome_policy: '' is not a non-empty string"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_ini_value_is_one_clear_line(pytester: pytest.Pytester, case: str) -> None:
    name, lines, message = BAD[case]
    pytester.makepyfile(TESTS)
    write_ini(pytester, name, lines)
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "-p", "no:benchmark")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: " + message), errors
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not (pytester.path / "ops").exists()


def test_every_tool_dome_key_has_an_ini_key() -> None:
    schema = ssot.schemas()["dome.config.schema.json"]["properties"]
    keys = {k for k in schema if k != "work"} | {
        f"work.queue.{k}" for k in schema["work"]["properties"]["queue"]["properties"]
    }
    assert {".".join(key) for _, _, key, _ in INI_KEYS} == keys
    assert all(name == "dome_" + key[-1] for name, _, key, _ in INI_KEYS)


def test_file_table_keeps_pyproject_alone_without_ini_keys() -> None:
    table = {"risk_threshold": 5, "work": {"queue": {"max_workers": 3}}}
    assert file_table(table, None) == (table, {})
    assert file_table(table, IniValues("tox.ini [pytest]")) == (table, {})
    with pytest.raises(
        ConfigError, match=r"both pyproject.toml \[tool.dome\] and tox.ini \[pytest\] \(dome_max_retries\)"
    ):
        file_table(table, IniValues("tox.ini [pytest]", {"dome_max_retries": "2"}))
    merged, where = file_table(
        table, IniValues("tox.ini [pytest]", {"dome_max_retries": "2"}, frozenset({"dome_max_retries"}))
    )
    assert merged == {"risk_threshold": 5, "work": {"queue": {"max_workers": 3, "max_retries": 2}}}
    assert where == {"work.queue.max_retries": "-o dome_max_retries"}


def test_every_ini_key_is_in_the_manual() -> None:
    manual = (Path(__file__).parents[1] / "docs/configuration.md").read_text()
    assert [name for name, *_ in INI_KEYS if f"| `{name}` |" not in manual] == []


TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1)
WORD = TEXT.map(str.strip).filter(bool)


@given(
    threshold=st.floats(0, 100),
    timeout=st.floats(min_value=0, exclude_min=True, allow_infinity=False),
    workers=st.integers(0, 256),
    retries=st.integers(0, 10),
    fail_on=st.lists(st.sampled_from(["NEEDS_HUMAN", "REJECT"]), max_size=2),
    verify=st.lists(st.lists(TEXT, min_size=1, max_size=3), max_size=3),
    path=WORD,
    flag=st.booleans(),
)
def test_ini_values_make_the_tool_dome_table(
    threshold, timeout, workers, retries, fail_on, verify, path, flag
) -> None:
    """Each value, written as an ini file holds it, reads back as its [tool.dome] key holds it."""
    given_values = {
        "dome_risk_threshold": repr(threshold),
        "dome_verify_timeout": repr(timeout),
        "dome_max_workers": str(workers),
        "dome_max_retries": str(retries),
        "dome_fail_on": [", ".join(fail_on)],
        "dome_verify": [shlex.join(argv) for argv in verify],
        "dome_policy": path,
        "dome_redact_reports": str(flag).lower(),
    }
    assert ini_table(IniValues("tox.ini [pytest]", given_values)) == {
        "risk_threshold": threshold,
        "verify_timeout": timeout,
        "work": {"queue": {"max_workers": workers, "max_retries": retries}},
        # REJECT always, NEEDS_HUMAN when given, in the gate's order (written out, not
        # computed with the parser under test).
        "fail_on": ["NEEDS_HUMAN", "REJECT"] if "NEEDS_HUMAN" in fail_on else ["REJECT"],
        "verify": verify,
        "policy": path,
        "redact_reports": flag,
    }


def test_ini_values_read_as_written() -> None:
    """One table written out by hand: the values as an ini file holds them, and the
    [tool.dome] values they must give."""
    written = {
        "dome_risk_threshold": " 25 ",
        "dome_fail_on": ["NEEDS_HUMAN"],
        "dome_verify": ["ruff check .", "python -m mypy 'src dir'"],
        "dome_verify_timeout": "120",
        "dome_max_workers": "4",
        "dome_redact_reports": "Off",
    }
    assert ini_table(IniValues("tox.ini [pytest]", written)) == {
        "risk_threshold": 25.0,
        "fail_on": ["NEEDS_HUMAN", "REJECT"],
        "verify": [["ruff", "check", "."], ["python", "-m", "mypy", "src dir"]],
        "verify_timeout": 120.0,
        "work": {"queue": {"max_workers": 4}},
        "redact_reports": False,
    }


@given(
    table=st.one_of(st.none(), st.sampled_from([10.0, 20.0])),
    where=st.sampled_from(["pyproject", "ini", "override_ini"]),
    packet=st.one_of(st.none(), st.sampled_from([30.0, 40.0])),
    option=st.one_of(st.none(), st.sampled_from([50.0, 60.0])),
)
def test_precedence_chooses_the_highest_layer_that_gives_a_value(table, where, packet, option) -> None:
    """Precedence alone, from plain values (no file read, nothing probed): the option
    over the packet over the file table over the policy, and the source recorded."""
    from pytest_dome.config.inputs import load_policy
    from pytest_dome.config.options import Options
    from pytest_dome.config.settings import Layers, Loaded, choose
    from pytest_dome.contracts.models import Packet

    given_table = {} if table is None else {"risk_threshold": table, "verify": [["true"]]}
    from_ini = {} if where == "pyproject" or table is None else {"risk_threshold": "tox.ini [pytest]"}
    overridden = frozenset({"dome_risk_threshold"} if where == "override_ini" and table is not None else ())
    doc = {"packet_id": "p", "tasks": [], **({"policy": {"threshold": packet}} if packet is not None else {})}
    layers = Layers(
        Options(run_id="r", risk_threshold=option, verify=("echo hi",)),
        given_table,
        from_ini,
        overridden,
        Path("/project"),
        Path("/project/sub"),
    )
    policy = load_policy(None, "builtin")
    loaded = Loaded(Packet.model_validate(doc), doc, "p.json", policy, "builtin")
    settings, verify = choose("r", layers, loaded)
    expected = [(option, "option"), (packet, "packet"), (table, where), (policy.threshold, "policy")]
    threshold, source = next((v, s) for v, s in expected if v is not None)
    assert (settings.threshold, settings.threshold_source) == (threshold, source)
    assert settings.runtime_dir == Path("/project/ops/runtime/runs")
    table_verify = [(("true",), "[tool.dome] verify")] if table is not None else []
    assert verify == [*table_verify, (("echo", "hi"), "--dome-verify")]
