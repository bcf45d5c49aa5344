"""What the manual says of an envelope's key ids is what the envelope loader does
(securesystemslib's ``Envelope.from_dict``): every signature is tried with the key,
whatever key id it names, but two signatures with the same key id, or one without a
key id, are not an envelope at all."""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from securesystemslib.signer import CryptoSigner

from pytest_dome.attest.dsse import SignatureProblem, sign, verified_payload

MANUAL = Path(__file__).resolve().parents[1] / "docs/attestations.md"
PAYLOAD = b'{"_type": "https://in-toto.io/Statement/v1"}'


def signed() -> tuple[dict, CryptoSigner]:
    signer = CryptoSigner(ed25519.Ed25519PrivateKey.generate())
    return sign(PAYLOAD, signer), signer


def test_a_signature_under_any_key_id_is_tried() -> None:
    envelope, signer = signed()
    other, _ = signed()
    envelope["signatures"] = [
        {**other["signatures"][0], "keyid": "someone-else"},  # does not verify
        {**envelope["signatures"][0], "keyid": "a-wrong-hint"},  # verifies, under another id
    ]
    assert verified_payload(envelope, signer.public_key) == PAYLOAD


def test_two_signatures_with_one_key_id_are_refused_even_when_one_verifies() -> None:
    envelope, signer = signed()
    good = envelope["signatures"][0]
    forged = {**good, "sig": base64.b64encode(b"\0" * 64).decode()}
    repeated = r"^not a DSSE envelope \(Multiple signatures found for keyid"
    for signatures in ([forged, good], [good, copy.deepcopy(good)]):
        with pytest.raises(SignatureProblem, match=repeated):
            verified_payload({**envelope, "signatures": signatures}, signer.public_key)
    without_id = {"sig": good["sig"]}
    with pytest.raises(SignatureProblem, match=r"^not a DSSE envelope"):
        verified_payload({**envelope, "signatures": [without_id]}, signer.public_key)


def test_the_manual_says_what_the_loader_does() -> None:
    text = " ".join(MANUAL.read_text().split())
    assert "every signature is tried);" not in text  # the old claim, true only for distinct key ids
    assert "two signatures with the same key id" in text and "Multiple signatures found for keyid" in text
