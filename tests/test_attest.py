"""dome attest / verify-attestation: in-toto attestations that the in-toto project's own
Python libraries read and verify (in_toto, in_toto_attestation, securesystemslib)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from google.protobuf import json_format
from hypothesis import given
from hypothesis import strategies as st
from in_toto.exceptions import SignatureVerificationError
from in_toto.models.metadata import Envelope, Metadata
from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
from in_toto_attestation.predicates.vsa.v1.vsa_pb2 import VerificationSummary
from in_toto_attestation.v1.statement import Statement
from in_toto_attestation.v1.statement_pb2 import Statement as StatementProto
from securesystemslib.signer import SSlibKey

from pytest_dome.attest.statements import classify
from pytest_dome.cli.main import main
from pytest_dome.core.aggregate import TaskResult
from pytest_dome.core.checkers import check

REASON = "risk accepted: the skipped UI tests are tracked in REL-42"
OUT = Path("ops/runtime/attestations/r1")
EXTENSION = "urn:pytest-dome:run"
KEYS = {
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "ecdsa-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}


def gated(
    pytester: pytest.Pytester, *args: str, tests: str = "def test_ok(): pass", local: str | None = None
) -> Path:
    """A gated run r1 of a git checkout (the default subject is its commit); ``local``:
    the test file as edited after the commit (an uncommitted change)."""
    test_file = pytester.makepyfile(tests)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=pytester.path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=pytester.path, check=True)
    subprocess.run([*git, "commit", "-qm", "release"], cwd=pytester.path, check=True)
    if local is not None:
        test_file.write_text(local)
    pytester.runpytest("--dome-run-id=r1", *args)
    return pytester.path / "ops/runtime/runs/r1"


def key_files(folder: Path, private: Any) -> tuple[Path, Path]:
    priv, pub = folder / "signing.pem", folder / "signing.pub"
    priv.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pub.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return priv, pub


def in_toto_key(pub: Path) -> dict[str, Any]:
    """The public key as in-toto's verify_signature takes it."""
    key = SSlibKey.from_crypto(serialization.load_pem_public_key(pub.read_bytes()))
    return {"keyid": key.keyid, **key.to_dict()}


def read_statement(payload: bytes) -> dict[str, Any]:
    """A statement as in_toto_attestation reads it: every field of the Statement and of
    the test-result predicate known to its protos, a valid Statement; schema-valid."""
    statement = Statement.copy_from_pb(json_format.Parse(payload, StatementProto()))
    statement.validate()
    doc: dict[str, Any] = json.loads(payload)
    predicate = {k: v for k, v in doc["predicate"].items() if k != EXTENSION}  # a URI extension field
    if doc["predicateType"] == "https://in-toto.io/attestation/test-result/v0.1":
        json_format.ParseDict(
            predicate, test_result_pb2.TestResult()
        )  # no field the predicate does not define
    else:
        # verifier.version is VSA 1.1, newer than the library's 1.0 proto; verifiedLevels
        # is a string in in-toto-attestation 0.9.3's proto (fixed upstream in abb6190,
        # "Make verifiedLevels field repeated to match spec"): checked by the schema.
        predicate.pop("verifiedLevels")
        json_format.ParseDict(predicate, VerificationSummary(), ignore_unknown_fields=True)
    assert check("intoto.statement", doc) == []
    return doc


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding, written from the protocol text."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_signed_envelopes_verify_with_in_toto(pytester: pytest.Pytester, capsys, kind: str) -> None:
    gated(pytester)
    (pytester.path / "dist").mkdir()
    (pytester.path / "dist/app-1.0-py3-none-any.whl").write_bytes(b"the wheel")
    private = KEYS[kind]()
    priv, pub = key_files(pytester.path, private)
    assert main(["attest", "r1", "--key", str(priv), "--subject", "dist/*.whl"]) == 0
    for stem in ("test-result", "vsa"):
        path = OUT / f"{stem}.intoto.json"
        assert check("dsse.envelope", json.loads(path.read_text())) == []
        envelope = Metadata.load(str(path))
        assert isinstance(envelope, Envelope)
        envelope.verify_signature(in_toto_key(pub))  # in-toto's own verification
        doc = read_statement(envelope.payload)
        assert doc["subject"] == [
            {
                "name": "dist/app-1.0-py3-none-any.whl",
                "digest": {"sha256": hashlib.sha256(b"the wheel").hexdigest()},
            }
        ]
        if kind == "ed25519":  # and the signature is over DSSE's PAE, checked without any library
            sig = base64.b64decode(json.loads(path.read_text())["signatures"][0]["sig"])
            private.public_key().verify(sig, pae("application/vnd.in-toto+json", envelope.payload))
        assert main(["verify-attestation", str(path), "--key", str(pub)]) == 0
    assert "signature verified" in capsys.readouterr().out


def test_unsigned_statements_name_the_commit_and_read_with_in_toto(pytester: pytest.Pytester, capsys) -> None:
    gated(pytester)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=pytester.path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert main(["attest", "r1"]) == 0
    result = read_statement((OUT / "test-result.statement.json").read_bytes())
    vsa = read_statement((OUT / "vsa.statement.json").read_bytes())
    assert result["subject"] == vsa["subject"] == [{"digest": {"gitCommit": head}}]
    assert result["predicate"]["result"] == "PASSED"
    assert result["predicate"]["passedTests"] == [
        "test_unsigned_statements_name_the_commit_and_read_with_in_toto.py::test_ok"
    ]
    predicate = vsa["predicate"]
    assert (predicate["verificationResult"], predicate["verifiedLevels"]) == ("PASSED", ["DOME_GATE_APPROVE"])
    assert predicate["inputAttestations"][0]["digest"]["sha256"] == predicate[EXTENSION]["manifest_sha256"]
    assert predicate["verifier"]["id"] == "urn:pytest-dome:verifier:gate"
    for stem in ("test-result", "vsa"):
        assert main(["verify-attestation", str(OUT / f"{stem}.statement.json"), "--unsigned"]) == 0
    assert main(["verify-attestation", str(OUT / "vsa.statement.json")]) == 2  # not without --unsigned
    assert "is not a signed envelope" in capsys.readouterr().err


def test_a_tampered_payload_or_subject_fails(pytester: pytest.Pytester, capsys) -> None:
    gated(pytester)
    (pytester.path / "app.whl").write_bytes(b"v1")
    priv, pub = key_files(pytester.path, ed25519.Ed25519PrivateKey.generate())
    assert main(["attest", "r1", "--key", str(priv), "--subject", "app.whl"]) == 0
    path = OUT / "vsa.intoto.json"
    original = json.loads(path.read_text())
    statement = json.loads(base64.b64decode(original["payload"]))
    statement["subject"][0]["digest"]["sha256"] = "0" * 64  # claim another file
    forged = {**original, "payload": base64.b64encode(json.dumps(statement).encode()).decode()}
    path.write_text(json.dumps(forged))
    with pytest.raises(SignatureVerificationError):
        Metadata.load(str(path)).verify_signature(in_toto_key(pub))
    assert main(["verify-attestation", str(path), "--key", str(pub)]) == 1
    assert "no signature verifies with this key" in capsys.readouterr().err
    path.write_text(json.dumps(original))
    (pytester.path / "app.whl").write_bytes(b"v2")  # the released file is not the attested one
    assert main(["verify-attestation", str(path), "--key", str(pub)]) == 1
    assert "subject app.whl: sha256 differs" in capsys.readouterr().err
    (pytester.path / "app.whl").write_bytes(b"v1")
    assert main(["verify-attestation", str(path), "--key", str(pub)]) == 0


def test_an_unsigned_statement_must_be_what_its_run_gives(pytester: pytest.Pytester, capsys) -> None:
    gated(pytester, tests="def test_ok(): pass\ndef test_bad(): assert False")
    assert main(["attest", "r1"]) == 0
    path = OUT / "test-result.statement.json"
    statement = json.loads(path.read_text())
    assert statement["predicate"]["result"] == "FAILED"
    assert statement["predicate"]["failedTests"][0].endswith("::test_bad")
    vsa = json.loads((OUT / "vsa.statement.json").read_text())["predicate"]
    assert (vsa["verificationResult"], vsa["verifiedLevels"]) == ("FAILED", ["FAILED"])
    statement["predicate"]["result"], statement["predicate"]["failedTests"] = "PASSED", []
    path.write_text(json.dumps(statement))
    assert main(["verify-attestation", str(path), "--unsigned"]) == 1
    assert "predicate: failedTests, result differ from what run r1 gives" in capsys.readouterr().err


def test_an_overridden_run_passes_with_the_override_recorded(pytester: pytest.Pytester, capsys) -> None:
    run = gated(pytester, "--dome-risk-threshold=0")
    assert main(["attest", "r1", "--out", "before"]) == 0
    vsa = json.loads(Path("before/vsa.statement.json").read_text())["predicate"]
    assert (vsa["verificationResult"], vsa[EXTENSION]["gate_status"]) == ("FAILED", "NEEDS_HUMAN")
    assert main(["override", str(run), "--actor", "release-manager", "--reason", REASON]) == 0
    assert main(["attest", "r1"]) == 0
    vsa = json.loads((OUT / "vsa.statement.json").read_text())["predicate"]
    assert (vsa["verificationResult"], vsa["verifiedLevels"]) == (
        "PASSED",
        ["DOME_GATE_NEEDS_HUMAN_OVERRIDDEN"],
    )
    override = vsa[EXTENSION]["override"]
    assert (override["actor"], override["reason"], vsa["timeVerified"]) == (
        "release-manager",
        REASON,
        override["at"],
    )
    capsys.readouterr()
    assert main(["verify-attestation", "before/vsa.statement.json", "--unsigned"]) == 1
    assert "its manifest changed since the attestation" in capsys.readouterr().err


def _write_ed448(folder: Path) -> str:
    key = ed448.Ed448PrivateKey.generate()
    path = folder / "ed448.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(path)


@pytest.mark.parametrize(
    "case",
    [
        "missing key",
        "wrong key type",
        "public key to sign",
        "run does not verify",
        "no subject",
        "outside",
        "shard",
        "out is a file",
        "second file unwritable",
    ],
)
def test_bad_input_is_one_clear_line(pytester: pytest.Pytester, tmp_path_factory, capsys, case: str) -> None:
    run = gated(pytester, *(["--dome-shard=1/2"] if case == "shard" else []))
    outside = tmp_path_factory.mktemp("elsewhere")
    (outside / "app.whl").write_bytes(b"not here")
    _, pub = key_files(pytester.path, ed25519.Ed25519PrivateKey.generate())
    args, message = {
        "missing key": (["--key", "absent.pem"], "absent.pem: no such key file"),
        "wrong key type": (["--key", _write_ed448(pytester.path)], "unsupported key type Ed448PrivateKey"),
        "public key to sign": (["--key", str(pub)], "not a private key file"),
        "run does not verify": (
            [],
            "/r1: EVIDENCE_HASH_MISMATCH plan.json: sha256 differs from the manifest",
        ),
        "no subject": (["--subject", "dist/*.whl"], "--subject dist/*.whl: matches no file"),
        "outside": (["--subject", str(outside / "*.whl")], "outside the current folder"),
        "shard": ([], "/r1: a shard's partial run has no decision; give the merged run"),
        "out is a file": (["--out", "taken/out"], "--out taken/out: cannot write there: Not a directory"),
        "second file unwritable": (["--out", "half"], "--out half: cannot write there: Is a directory"),
    }[case]
    (pytester.path / "taken").write_text("a file where the folder would go\n")
    # test-result.statement.json is written first, then vsa.statement.json fails (a folder
    # holds its name): the first must be taken back, not left as half of a pair
    (pytester.path / "half/vsa.statement.json").mkdir(parents=True)
    if case == "run does not verify":
        (run / "plan.json").write_text((run / "plan.json").read_text() + " ")
    capsys.readouterr()
    assert main(["attest", "r1", *args]) == (1 if case == "run does not verify" else 2)
    out, err = capsys.readouterr()
    assert (out, len(err.splitlines())) == ("", 1), err
    assert err.startswith("dome attest: ") and message in err, err
    assert not OUT.exists()
    assert sorted(p.name for p in (pytester.path / "half").iterdir()) == ["vsa.statement.json"]


OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "missing")


@given(st.dictionaries(st.text(min_size=1), st.tuples(st.sampled_from(OUTCOMES), st.booleans())))
def test_every_test_lands_in_one_list_and_a_flaky_pass_is_only_warned(tasks: dict[str, Any]) -> None:
    results = [
        TaskResult(f"t{i}", node, out, flaky, 0.0, None, ())
        for i, (node, (out, flaky)) in enumerate(tasks.items())
    ]
    passed, warned, failed = classify(results)
    assert passed == sorted(passed) and warned == sorted(warned) and failed == sorted(failed)
    assert set(passed) | set(warned) | set(failed) == {
        node for node, (out, _) in tasks.items() if out not in ("skipped", "xfailed")
    }
    assert len(passed) + len(warned) + len(failed) == len(set(passed) | set(warned) | set(failed))
    assert set(failed) == {node for node, (out, _) in tasks.items() if out in ("failed", "error", "missing")}
    assert not {node for node, (out, flaky) in tasks.items() if flaky} & set(passed)


def test_openssh_and_encrypted_keys(pytester: pytest.Pytester, monkeypatch, capsys) -> None:
    gated(pytester)
    private = ed25519.Ed25519PrivateKey.generate()
    ssh = pytester.path / "id_ed25519"
    ssh.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    ssh_pub = pytester.path / "id_ed25519.pub"
    ssh_pub.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    assert main(["attest", "r1", "--key", str(ssh)]) == 0
    assert main(["verify-attestation", str(OUT / "vsa.intoto.json"), "--key", str(ssh_pub)]) == 0
    encrypted = pytester.path / "encrypted.pem"
    encrypted.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    capsys.readouterr()
    assert main(["attest", "r1", "--key", str(encrypted)]) == 2
    assert "the key is encrypted; put its password in DOME_ATTEST_KEY_PASSWORD" in capsys.readouterr().err
    monkeypatch.setenv("DOME_ATTEST_KEY_PASSWORD", "s3cret")
    assert main(["attest", "r1", "--key", str(encrypted), "--out", "again"]) == 0
    # the same key, so the same signature over the same statement (ed25519 is deterministic)
    assert Path("again/vsa.intoto.json").read_bytes() == (OUT / "vsa.intoto.json").read_bytes()


def test_subjects_and_run_can_be_elsewhere_when_verifying(
    pytester: pytest.Pytester, tmp_path_factory
) -> None:
    run = gated(pytester)
    (pytester.path / "app.whl").write_bytes(b"v1")
    priv, pub = key_files(pytester.path, ed25519.Ed25519PrivateKey.generate())
    assert main(["attest", "r1", "--key", str(priv), "--subject", "app.whl"]) == 0
    downloads = tmp_path_factory.mktemp("downloads")
    (downloads / "app.whl").write_bytes(b"v1")
    (pytester.path / "app.whl").unlink()
    moved = downloads / "evidence"
    run.rename(moved)
    path = str(OUT / "vsa.intoto.json")
    assert main(["verify-attestation", path, "--key", str(pub)]) == 1  # neither is where it was
    assert (
        main(
            [
                "verify-attestation",
                path,
                "--key",
                str(pub),
                "--subject-dir",
                str(downloads),
                "--run",
                str(moved),
            ]
        )
        == 0
    )


@pytest.mark.parametrize("case", ["no file", "not json", "envelope without key", "private key", "no run"])
def test_verify_attestation_bad_input_is_one_line(pytester: pytest.Pytester, capsys, case: str) -> None:
    gated(pytester)
    priv, pub = key_files(pytester.path, ed25519.Ed25519PrivateKey.generate())
    assert main(["attest", "r1", "--key", str(priv)]) == 0
    (pytester.path / "notes.json").write_text("not json")
    envelope = str(OUT / "vsa.intoto.json")
    args, message = {
        "no file": (["absent.json", "--key", str(pub)], "absent.json: no such file"),
        "not json": (["notes.json", "--key", str(pub)], "notes.json: Expecting value"),
        "envelope without key": ([envelope], "is a signed envelope: give --key PUBLIC_KEY"),
        "private key": ([envelope, "--key", str(priv)], "a private key; verify with the public key"),
        "no run": ([envelope, "--key", str(pub), "--run", "r9"], "no such run folder"),
    }[case]
    capsys.readouterr()
    assert main(["verify-attestation", *args]) == 2
    out, err = capsys.readouterr()
    assert (out, len(err.splitlines())) == ("", 1), err
    assert err.startswith("dome verify-attestation: ") and message in err, err


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a refusal printed on standard error (and nothing on standard output)."""
    out, err = capsys.readouterr()
    assert (out, len(err.splitlines())) == ("", 1), (out, err)
    assert err.startswith("dome verify-attestation: "), err
    return err.strip()


def test_a_deploy_check_refuses_a_rejected_run_unless_auditing(pytester: pytest.Pytester, capsys) -> None:
    gated(pytester, tests="def test_ok(): pass\ndef test_bad(): assert False")
    (pytester.path / "app.whl").write_bytes(b"v1")
    priv, pub = key_files(pytester.path, ed25519.Ed25519PrivateKey.generate())
    assert main(["attest", "r1", "--key", str(priv), "--subject", "app.whl"]) == 0  # a record of the failure
    capsys.readouterr()
    vsa, result = str(OUT / "vsa.intoto.json"), str(OUT / "test-result.intoto.json")
    assert main(["verify-attestation", vsa, "--key", str(pub)]) == 1
    assert _one_line(capsys) == (
        f"dome verify-attestation: {vsa}: verificationResult is FAILED, not PASSED (run r1: gate REJECT, "
        "promotion stop); a release takes PASSED only (--accept-failed checks a failed run for an audit)"
    )
    assert main(["verify-attestation", result, "--key", str(pub)]) == 1
    assert "result is FAILED, not PASSED (run r1: gate REJECT, promotion stop)" in _one_line(capsys)
    for path, verdict in ((vsa, "FAILED FAILED"), (result, "FAILED")):
        assert main(["verify-attestation", path, "--key", str(pub), "--accept-failed"]) == 0
        out = capsys.readouterr().out
        assert out.endswith(f"gives this statement ({verdict}, accepted with --accept-failed)\n"), out
    # --accept-failed checks everything else still: a changed subject fails
    (pytester.path / "app.whl").write_bytes(b"v2")
    assert main(["verify-attestation", vsa, "--key", str(pub), "--accept-failed"]) == 1
    assert "subject app.whl: sha256 differs" in _one_line(capsys)


def test_require_level_tells_an_approval_from_an_override(pytester: pytest.Pytester, capsys) -> None:
    run = gated(pytester, "--dome-risk-threshold=0")
    assert main(["override", str(run), "--actor", "release-manager", "--reason", REASON]) == 0
    assert main(["attest", "r1"]) == 0
    vsa, result = str(OUT / "vsa.statement.json"), str(OUT / "test-result.statement.json")
    capsys.readouterr()
    assert main(["verify-attestation", vsa, "--unsigned", "--require-level", "DOME_GATE_APPROVE"]) == 1
    assert _one_line(capsys).endswith(
        f"{vsa}: verifiedLevels DOME_GATE_NEEDS_HUMAN_OVERRIDDEN, not DOME_GATE_APPROVE "
        "(run r1: gate NEEDS_HUMAN, promotion promote)"
    )
    level = "DOME_GATE_NEEDS_HUMAN_OVERRIDDEN"
    assert main(["verify-attestation", vsa, "--unsigned", "--require-level", level]) == 0
    assert "(PASSED DOME_GATE_NEEDS_HUMAN_OVERRIDDEN)" in capsys.readouterr().out
    assert main(["verify-attestation", vsa, "--unsigned", "--require-level", "SLSA_BUILD_LEVEL_3"]) == 2
    assert _one_line(capsys).endswith(
        "--require-level SLSA_BUILD_LEVEL_3: not a level; give DOME_GATE_APPROVE or "
        "DOME_GATE_NEEDS_HUMAN_OVERRIDDEN"
    )
    assert main(["verify-attestation", result, "--unsigned", "--require-level", "DOME_GATE_APPROVE"]) == 2
    assert "a test-result statement has no levels; check the VSA" in _one_line(capsys)


def test_require_level_passes_a_clean_approval(pytester: pytest.Pytester, capsys) -> None:
    gated(pytester)
    assert main(["attest", "r1"]) == 0
    vsa = str(OUT / "vsa.statement.json")
    assert main(["verify-attestation", vsa, "--unsigned", "--require-level", "DOME_GATE_APPROVE"]) == 0
    assert "(PASSED DOME_GATE_APPROVE)" in capsys.readouterr().out


def _signed(statement_bytes: bytes, priv: Path, path: Path) -> str:
    from pytest_dome.attest.dsse import load_signer, sign

    path.write_text(json.dumps(sign(statement_bytes, load_signer(priv))))
    return str(path)


def test_a_signed_payload_must_be_canonical_json(pytester: pytest.Pytester, capsys) -> None:
    gated(pytester)
    priv, pub = key_files(pytester.path, ed25519.Ed25519PrivateKey.generate())
    assert main(["attest", "r1", "--key", str(priv)]) == 0
    payload = base64.b64decode(json.loads((OUT / "vsa.intoto.json").read_text())["payload"])
    statement = json.loads(payload)
    # a reader that keeps the first of two keys reads another statement than one that
    # keeps the last (Python's json): the signed bytes must mean one thing
    twice = b'{"_type":"https://example.com/not-in-toto",' + payload[1:]
    assert json.loads(twice) == statement
    capsys.readouterr()
    forged = _signed(twice, priv, pytester.path / "twice.intoto.json")
    assert main(["verify-attestation", forged, "--key", str(pub)]) == 1
    assert _one_line(capsys).endswith(
        "the key '_type' appears twice in one object (readers disagree on which counts)"
    )
    spaced = _signed(json.dumps(statement, indent=2).encode(), priv, pytester.path / "spaced.intoto.json")
    assert main(["verify-attestation", spaced, "--key", str(pub)]) == 1
    assert "the signed payload is not in canonical JSON form (sorted keys, no spaces)" in _one_line(capsys)
    canonical = _signed(payload, priv, pytester.path / "same.intoto.json")
    assert main(["verify-attestation", canonical, "--key", str(pub)]) == 0
    # an unsigned statement read twice-keyed is refused as bad input
    (pytester.path / "twice.statement.json").write_bytes(twice)
    capsys.readouterr()
    assert main(["verify-attestation", "twice.statement.json", "--unsigned"]) == 2
    assert _one_line(capsys).endswith(
        "twice.statement.json: the key '_type' appears twice in one object (readers disagree on which counts)"
    )


def test_a_commit_is_not_attested_from_a_dirty_tree(pytester: pytest.Pytester, capsys) -> None:
    # the committed test fails; edited locally it passes: the run approves uncommitted code
    run = gated(pytester, tests="def test_ok(): assert False", local="def test_ok(): pass")
    tree = json.loads((run / "inputs/change_set.json").read_text())["worktree"]
    assert (tree["state"], tree["changed_paths"], len(tree["digest"])) == ("dirty", 1, 64)
    capsys.readouterr()
    assert main(["attest", "r1"]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == (
        "",
        "dome attest: run r1 tested uncommitted changes (1 path(s) differ from its commit); commit and "
        "gate again, or name what you release with --subject GLOB\n",
    )
    assert not OUT.exists()
    (pytester.path / "app.whl").write_bytes(b"built from this tree")
    assert main(["attest", "r1", "--subject", "app.whl"]) == 0  # what is released, named
    # a statement of the commit made by hand is refused by the deploy-side check too
    from pytest_dome.attest.statements import statements
    from pytest_dome.runfolder.reader import load_run
    from pytest_dome.runfolder.writer import render

    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=pytester.path, capture_output=True, text=True, check=True
    ).stdout.strip()
    made = statements(load_run(run), [{"digest": {"gitCommit": head}}])["vsa"]
    (pytester.path / "commit.statement.json").write_bytes(render(made))
    capsys.readouterr()
    assert main(["verify-attestation", "commit.statement.json", "--unsigned"]) == 1
    assert _one_line(capsys).endswith(
        f"subject gitCommit {head}: run r1 tested uncommitted changes (1 path(s) differ from its commit)"
    )


def test_a_commit_is_not_attested_when_the_tree_state_is_not_recorded(pytester: pytest.Pytester) -> None:
    """A run whose change set has no worktree (git status failed, or a run of an older
    pytest-dome) cannot vouch for its commit alone."""
    import dataclasses

    from pytest_dome.attest.statements import AttestError, commit_subject
    from pytest_dome.runfolder.reader import load_run

    recorded = load_run(gated(pytester))
    head = recorded.inputs.change_set.head_commit
    assert commit_subject(recorded) == [{"digest": {"gitCommit": head}}]  # clean
    change_set = recorded.inputs.change_set.model_copy(update={"worktree": None})
    unknown = dataclasses.replace(
        recorded, inputs=dataclasses.replace(recorded.inputs, change_set=change_set)
    )
    with pytest.raises(AttestError, match=r"^run r1 does not record whether its working tree was clean "):
        commit_subject(unknown)
