"""A secret in a test id reaches neither pytest's cache nor the run folder."""

from __future__ import annotations

import pytest

from .test_canary import ENV_CANARY, GITHUB_CANARY


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        pytest.param((), 1, id="serial"),
        pytest.param(("-n", "2"), 1, id="xdist"),
        pytest.param(("--sw",), 2, id="stepwise"),  # stops at the first failure
    ],
)
def test_secret_test_id_stays_out_of_pytest_cache(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, dome_run, mode: tuple[str, ...], status: int
) -> None:
    monkeypatch.setenv("DEPLOY_TOKEN", ENV_CANARY)
    pytester.makepyfile(
        f"""
        import pytest
        @pytest.mark.parametrize("key", ["{GITHUB_CANARY}", "{ENV_CANARY}", "plain"])
        def test_key(key):
            assert key == "plain"
        """
    )
    result = pytester.runpytest_subprocess("--dome-run-id=r1", "-p", "no:randomly", *mode)
    assert result.ret == status
    cache = pytester.path / ".pytest_cache"
    lastfailed = cache / "v/cache/lastfailed"
    assert lastfailed.is_file()  # pytest did record the failures: under their redacted ids
    assert "[REDACTED:github_token]" in lastfailed.read_text()
    run = dome_run("r1")  # valid evidence, every artifact checked
    searched = [p for folder in (cache, run.path) for p in folder.rglob("*") if p.is_file()]
    assert len(searched) > 10
    for path in searched:
        text = path.read_text(errors="replace")
        assert GITHUB_CANARY not in text and ENV_CANARY not in text, path
