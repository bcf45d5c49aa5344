"""Shards of one run, merged into one decision identical to an unsharded run."""

from __future__ import annotations

import pytest

from pytest_dome.cli.main import main

SUITE = (
    "".join(f"def test_{i}(): pass\n" for i in range(12))
    + "import pytest\n@pytest.mark.skip\ndef test_s(): pass\n"
)


def shards(pytester: pytest.Pytester, count: int, *extra: str) -> list[str]:
    folders = []
    for k in range(1, count + 1):
        result = pytester.runpytest(
            f"--dome-run-id=s{k}",
            f"--dome-shard={k}/{count}",
            "--dome-verify=python -c pass",
            *extra,
        )
        result.stdout.fnmatch_lines([f"shard {k}/{count} recorded*"])
        folders.append(str(pytester.path / f"ops/runtime/runs/s{k}"))
    return folders


def test_merged_shards_decide_like_one_unsharded_run(pytester: pytest.Pytester, dome_run, capsys) -> None:
    pytester.makepyfile(SUITE)
    pytester.runpytest("--dome-run-id=whole", "--dome-verify=python -c pass")
    folders = shards(pytester, 3)
    ran = sorted(len(dome_run(f"s{k}").tasks) for k in (1, 2, 3))
    assert sum(ran) == 13 and ran[0] > 0  # every task in exactly one shard
    assert dome_run("s1").manifest["state"] == "partial" and dome_run("s2").verify["commands"] == []
    out = str(pytester.path / "ops/runtime/runs/merged")
    assert main(["merge", "--run-id", "merged", "--out", out, *folders]) == 0
    merged, whole = dome_run("merged"), dome_run("whole")
    assert merged.gate["decision_digest"] == whole.gate["decision_digest"]
    assert merged.gate["status"] == "APPROVE" and len(merged.tasks) == 13
    assert "APPROVE" in capsys.readouterr().out


def test_merge_missing_a_shard_rejects(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(SUITE)
    folders = shards(pytester, 3)
    out = str(pytester.path / "ops/runtime/runs/merged")
    assert main(["merge", "--run-id", "merged", "--out", out, folders[0], folders[2]]) == 1
    gate = dome_run("merged").gate
    assert gate["status"] == "REJECT"
    assert {"SHARD_MISSING", "TASK_RESULT_MISSING"} <= set(gate["reason_codes"])


def test_merge_duplicated_shard_rejects(pytester: pytest.Pytester, dome_run) -> None:
    pytester.makepyfile(SUITE)
    folders = shards(pytester, 2)
    out = str(pytester.path / "ops/runtime/runs/merged")
    assert main(["merge", "--run-id", "merged", "--out", out, *folders, folders[1]]) == 1
    assert "SHARD_DUPLICATE" in dome_run("merged").gate["reason_codes"]


def test_merge_refuses_shards_of_different_inputs(pytester: pytest.Pytester, capsys) -> None:
    pytester.makepyfile(SUITE)
    first = shards(pytester, 2)[0]
    pytester.makepyfile(test_more="def test_new(): pass")
    pytester.runpytest("--dome-run-id=other", "--dome-shard=2/2", "--dome-verify=python -c pass")
    other = str(pytester.path / "ops/runtime/runs/other")
    out = str(pytester.path / "ops/runtime/runs/merged")
    assert main(["merge", "--run-id", "merged", "--out", out, first, other]) == 2
    assert "different input_digests" in capsys.readouterr().err
    assert not (pytester.path / "ops/runtime/runs/merged").exists()


@pytest.mark.parametrize("bad", ["0/3", "4/3", "3", "a/b", "1/0"])
def test_bad_shard_is_a_usage_error(pytester: pytest.Pytester, bad: str) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest("--dome-run-id=r1", f"--dome-shard={bad}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --dome-shard: '{bad}' is not K/N*"])


def test_adding_tests_moves_no_task_to_another_shard(pytester: pytest.Pytester, dome_run) -> None:
    """Shard 1/3 of a suite, planned and run; then tests are added before, among
    and after the others and shard 1/3 is planned and run again: it runs the same
    old tasks as before (and whatever new ones fall to it)."""
    old = [f"test_{i:02}" for i in range(0, 24, 2)]
    pytester.makepyfile(test_m="".join(f"def {name}(): pass\n" for name in old))
    pytester.runpytest("--dome-run-id=before", "--dome-shard=1/3")
    before = set(dome_run("before").tasks)
    old_ids = {f"test_m.py::{name}" for name in old}
    assert before and before < old_ids  # a proper part of the suite: the comparison means something
    new = [f"test_{i:02}" for i in range(1, 24, 2)]
    pytester.makepyfile(
        test_a="def test_first(): pass\n",  # collected before every old task
        test_m="".join(f"def {name}(): pass\n" for name in sorted(old + new)),
    )
    pytester.runpytest("--dome-run-id=after", "--dome-shard=1/3")
    after = set(dome_run("after").tasks)
    assert after & old_ids == before
    assert len(dome_run("after").plan["tasks"]) == len(old) + len(new) + 1
