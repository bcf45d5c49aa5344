"""The default fanout (``-n <max_workers>``) is decided before any plugin reads the
arguments, and a scheduling mode alone keeps it."""

from __future__ import annotations

import pytest

FANOUT_PROBE = """
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # What pytest-cov reads to choose its distributed mode.
    with open("seen-numprocesses", "w") as fh:
        fh.write(repr(early_config.known_args_namespace.numprocesses))
"""


def test_the_default_fanout_is_seen_by_other_plugins_at_load_initial_conftests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS")  # the default fanout itself
    pytester.makepyfile(probe=FANOUT_PROBE)
    pytester.makepyfile("def test_a(): pass\n")
    pytester.makeini("[pytest]\ndome_max_workers = 2\n")
    result = pytester.runpytest_subprocess("-p", "probe", "--dome-run-id=r1")
    assert result.ret == 0
    assert (pytester.path / "seen-numprocesses").read_text() == "2"
    result.stdout.fnmatch_lines(["created: 2/2 workers"])


def test_no_fanout_is_seen_when_the_run_is_serial(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(probe=FANOUT_PROBE)
    pytester.makepyfile("def test_a(): pass\n")
    result = pytester.runpytest_subprocess("-p", "probe", "--dome-run-id=r1", "--dome-max-workers=0")
    assert result.ret == 0
    assert (pytester.path / "seen-numprocesses").read_text() == "None"


@pytest.mark.parametrize(
    ("given", "workers", "dist"),
    [
        (["--dist", "loadscope"], 2, "loadscope"),
        (["--dist=worksteal"], 2, "worksteal"),
        (["--dist", "no"], 0, "no"),
        (["-n", "1"], 1, "load"),
    ],
)
def test_a_scheduling_mode_alone_keeps_the_fanout(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, given: list[str], workers: int, dist: str
) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS")  # the default fanout itself
    pytester.makeconftest(
        """
        def pytest_configure(config):
            if not hasattr(config, "workerinput"):
                with open("seen-dist", "w") as fh:
                    fh.write(f"{config.option.numprocesses} {config.option.dist}")
        """
    )
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass\n")
    result = pytester.runpytest_subprocess("--dome-run-id=r1", *given)
    assert result.ret == 0
    assert (pytester.path / "seen-dist").read_text() == f"{workers or None} {dist}"
