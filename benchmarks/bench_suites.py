"""Generated test suites for the benchmark: each one a folder with its own pytest.ini
(so the rootdir, and nothing of this repository's configuration, is used)."""

from __future__ import annotations

import textwrap
from pathlib import Path

PER_MODULE = 100
"""Trivial tests per module, the same at every size (so per-test costs compare)."""

INI = "[pytest]\n"


def _start(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=False)
    (root / "pytest.ini").write_text(INI)
    return root


def trivial(root: Path, n: int) -> Path:
    """``n`` tests that do nothing, ``PER_MODULE`` to a module."""
    _start(root)
    body = "".join(f"def test_{i}():\n    pass\n\n\n" for i in range(PER_MODULE))
    full, rest = divmod(n, PER_MODULE)
    for m in range(full):
        (root / f"test_m{m:04d}.py").write_text(body)
    if rest:
        (root / f"test_m{full:04d}.py").write_text(
            "".join(f"def test_{i}():\n    pass\n\n\n" for i in range(rest))
        )
    return root


def sleep(root: Path, n: int = 200, ms: int = 100) -> Path:
    """``n`` tests that each sleep ``ms`` milliseconds (the fanout check: long enough
    that xdist's start-up of its workers is a small part of the -n 2 run)."""
    _start(root)
    per = 50
    for m in range(0, n, per):
        count = min(per, n - m)
        (root / f"test_sleep{m // per:02d}.py").write_text(
            "import time\n\n\n"
            + "".join(f"def test_{i}():\n    time.sleep({ms / 1000!r})\n\n\n" for i in range(count))
        )
    return root


CONFTEST = """
import json

import pytest


class Store:
    def __init__(self):
        self.rows = {}

    def put(self, key, value):
        self.rows[key] = value

    def get(self, key):
        return self.rows[key]


@pytest.fixture(scope="session")
def catalog():
    return {f"sku-{i}": {"price": i * 1.5, "tags": [f"t{i % 7}", f"g{i % 3}"]} for i in range(200)}


@pytest.fixture
def store(catalog):
    s = Store()
    for key, value in list(catalog.items())[:20]:
        s.put(key, value)
    yield s
    s.rows.clear()


@pytest.fixture
def payload(catalog):
    return json.dumps(catalog["sku-7"], sort_keys=True)


@pytest.fixture(params=["json", "repr"])
def codec(request):
    return {"json": json.dumps, "repr": repr}[request.param]
"""

MODULE = """
import dataclasses
import json
import re

import pytest

PATTERN = re.compile(r"^sku-(\\d+)$")


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    qty: int
    price: float

    @property
    def total(self):
        return round(self.qty * self.price, 2)


@pytest.fixture(scope="module")
def lines(catalog):
    return [Line(k, i % 5 + 1, v["price"]) for i, (k, v) in enumerate(sorted(catalog.items())[:50])]


@pytest.fixture
def cart(lines, store):
    return {line.sku: line for line in lines if line.sku in store.rows}


@pytest.mark.parametrize("qty", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("price", [0.5, 1.25, 10.0])
def test_line_total(qty, price):
    line = Line("sku-1", qty, price)
    assert line.total == round(qty * price, 2)


@pytest.mark.parametrize("key", [f"sku-{i}" for i in range(0, 40, 3)])
def test_sku_pattern(key, catalog):
    match = PATTERN.match(key)
    assert match and int(match.group(1)) * 1.5 == catalog[key]["price"]


def test_cart_has_stored_lines(cart, store):
    assert set(cart) <= set(store.rows)
    assert all(line.total > 0 or line.price == 0 for line in cart.values())


def test_payload_roundtrip(payload, codec):
    doc = json.loads(payload)
    assert codec(doc)
    assert doc["tags"][0].startswith("t")


def test_tmp_file(tmp_path, payload):
    path = tmp_path / "p.json"
    path.write_text(payload)
    assert json.loads(path.read_text()) == json.loads(payload)


def test_monkeypatched_env(monkeypatch):
    monkeypatch.setenv("BENCH_MODE", "realistic")
    import os

    assert os.environ["BENCH_MODE"] == "realistic"


def test_output_is_captured(capsys):
    print("hello from a test")
    assert capsys.readouterr().out == "hello from a test\\n"


def test_raises():
    with pytest.raises(KeyError, match="nope"):
        {}["nope"]


@pytest.mark.skip(reason="not on this platform")
def test_skipped():
    raise AssertionError


class TestStore:
    @pytest.fixture(autouse=True)
    def _fill(self, store):
        store.put("extra", {"price": 0.0, "tags": []})

    def test_get(self, store):
        assert store.get("extra")["price"] == 0.0

    @pytest.mark.parametrize("key", ["sku-0", "sku-1", "sku-2", "sku-3"])
    def test_preloaded(self, store, key):
        assert store.get(key)["tags"]

    def test_sorted_totals(self, lines):
        totals = sorted(line.total for line in lines)
        assert totals == sorted(totals)
"""


def realistic(root: Path, modules: int = 10) -> Path:
    """Modules of parametrised tests with session, module, function, class and autouse
    fixtures (some with teardown), tmp_path, monkeypatch, capsys, a skip: 43 tests a module."""
    _start(root)
    (root / "conftest.py").write_text(textwrap.dedent(CONFTEST).lstrip())
    pkg = root / "tests"
    pkg.mkdir()
    for m in range(modules):
        (pkg / f"test_shop{m:02d}.py").write_text(textwrap.dedent(MODULE).lstrip())
    return root
