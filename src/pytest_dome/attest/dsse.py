"""DSSE envelopes (github.com/secure-systems-lab/dsse) signed with a key the user holds.

The signing and the key handling are securesystemslib's, the library of the in-toto
project (its ``Envelope`` computes the pre-authentication encoding, its
``CryptoSigner`` signs with pyca/cryptography): an envelope written here verifies
with in-toto's own tools. Keys: ed25519, ECDSA on P-256/P-384/P-521, RSA (signed
with RSASSA-PSS and SHA-256), as PEM (PKCS#8, or the traditional OpenSSL forms) or
OpenSSH files; an encrypted private key takes its password from
``DOME_ATTEST_KEY_PASSWORD``.

Both libraries are the ``attest`` extra (``pip install 'pytest-dome[attest]'``), imported
only where a key is loaded: an unsigned ``dome attest``, ``verify-attestation
--unsigned`` and the gated session run without them.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from securesystemslib.signer import CryptoSigner, SSlibKey

PAYLOAD_TYPE = "application/vnd.in-toto+json"
"""The payload type in-toto gives an envelope holding a Statement."""

PASSWORD_ENV = "DOME_ATTEST_KEY_PASSWORD"
KEY_TYPES = "ed25519, ECDSA (P-256, P-384, P-521) or RSA"
EXTRA = "pip install 'pytest-dome[attest]'"


class KeyFileError(ValueError):
    """A key file cannot be used: one line naming the file, the trouble and the fix."""


class MissingExtra(KeyFileError):
    """The signing libraries (the ``attest`` extra) are not installed."""


def _require_signing() -> None:
    """Refuse, in one line naming what to install, when securesystemslib or
    cryptography (the ``attest`` extra) is missing."""
    try:
        import cryptography.hazmat.primitives.serialization  # noqa: F401
        import securesystemslib.signer  # noqa: F401
    except ImportError as exc:
        missing = (exc.name or "securesystemslib").split(".")[0]
        raise MissingExtra(
            f"--key needs the signing libraries ({missing} is not installed): {EXTRA}"
        ) from None


class SignatureProblem(ValueError):
    """An envelope is not well formed, or no signature in it verifies with the key."""


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot be read ({exc.strerror})") from None


def load_signer(path: Path) -> CryptoSigner:
    """The signer of the private key in ``path``."""
    _require_signing()
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from securesystemslib.signer import CryptoSigner

    data = _read(path)
    if b"PRIVATE KEY" not in data:
        raise KeyFileError(f"{path}: not a private key file (PEM or OpenSSH); sign with your private key")
    password = os.environ.get(PASSWORD_ENV)
    secret = password.encode() if password else None
    load = (
        serialization.load_ssh_private_key
        if b"BEGIN OPENSSH PRIVATE KEY" in data
        else serialization.load_pem_private_key
    )
    try:
        key = load(data, secret)
    except TypeError:  # encrypted without a password, or a password for a plain key
        raise KeyFileError(
            f"{path}: the key is encrypted; put its password in {PASSWORD_ENV}"
            if secret is None
            else f"{path}: the key is not encrypted; unset {PASSWORD_ENV}"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path}: cannot load the private key ({_first_line(exc)})") from None
    try:
        return CryptoSigner(key)
    except ValueError:
        raise KeyFileError(
            f"{path}: unsupported key type {type(key).__name__}; use an {KEY_TYPES} key"
        ) from None


def load_public_key(path: Path) -> SSlibKey:
    """The public key in ``path`` (PEM, or one OpenSSH public key line)."""
    _require_signing()
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from securesystemslib.signer import SSlibKey

    data = _read(path)
    if b"PRIVATE KEY" in data:
        raise KeyFileError(
            f"{path}: a private key; verify with the public key (openssl pkey -in KEY -pubout -out KEY.pub)"
        )
    try:
        key = (
            serialization.load_pem_public_key(data)
            if data.lstrip().startswith(b"-----")
            else serialization.load_ssh_public_key(data)
        )
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"{path}: cannot load the public key ({_first_line(exc)})") from None
    try:
        return SSlibKey.from_crypto(key)
    except ValueError:
        raise KeyFileError(
            f"{path}: unsupported key type {type(key).__name__}; use an {KEY_TYPES} key"
        ) from None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def sign(payload: bytes, signer: CryptoSigner) -> dict[str, Any]:
    """A DSSE envelope of ``payload`` (an in-toto Statement) with one signature."""
    from securesystemslib.dsse import Envelope

    from ..core.checkers import check

    envelope = Envelope(payload, PAYLOAD_TYPE, {})
    envelope.sign(signer)
    document: dict[str, Any] = envelope.to_dict()
    for problem in check("dsse.envelope", document):  # our own contract: a bug if not
        raise ValueError(f"the signed envelope breaks its schema ({problem}); please report it")
    return document


def is_envelope(document: Any) -> bool:
    return isinstance(document, dict) and "payload" in document and "signatures" in document


def verified_payload(document: dict[str, Any], key: SSlibKey) -> bytes:
    """The payload of the envelope ``document`` once a signature in it verifies with
    ``key`` over the pre-authentication encoding of its type and payload. Key ids
    are hints only (DSSE): every signature is tried with the key."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import UnverifiedSignatureError
    from securesystemslib.signer import Signature

    try:
        envelope = Envelope.from_dict(copy.deepcopy(document))  # from_dict edits the signatures
    except (KeyError, TypeError, ValueError) as exc:
        raise SignatureProblem(f"not a DSSE envelope ({_first_line(exc)})") from None
    if envelope.payload_type != PAYLOAD_TYPE:
        raise SignatureProblem(f"payloadType is {envelope.payload_type!r}, not {PAYLOAD_TYPE!r}")
    pae = envelope.pae()
    for signature in envelope.signatures.values():
        try:
            key.verify_signature(Signature(key.keyid, signature.signature), pae)
        except UnverifiedSignatureError:
            continue
        return envelope.payload
    raise SignatureProblem(
        f"no signature verifies with this key (key id {key.keyid[:16]}...); "
        "the payload was changed, or another key signed it"
    )


def parse_json(data: bytes) -> Any:
    """``data`` as JSON, refused (ValueError, one line) when an object repeats a key
    (readers disagree on which value counts), a number is NaN, Infinity or out of
    range, or it nests too deeply: the safe reader, with repeated keys refused."""
    from ..runfolder.safejson import parse

    return parse(data, unique_keys=True)


def signed_statement(payload: bytes) -> Any:
    """The statement in a verified envelope's ``payload``: it must be the canonical JSON
    ``dome attest`` signs (sorted keys, no spaces, UTF-8, each key once), so that every
    reader of the signed bytes reads the same statement."""
    from ..core.canonical import canonical_json

    try:
        statement = parse_json(payload)
    except ValueError as exc:  # not JSON, not UTF-8, a repeated key, NaN
        raise SignatureProblem(
            f"the signed payload is not a JSON statement we can trust: {_first_line(exc)}"
        ) from None
    try:
        canonical = canonical_json(statement)
    except RecursionError:
        raise SignatureProblem("the signed payload nests too deeply to read") from None
    if canonical != payload:
        raise SignatureProblem(
            "the signed payload is not in canonical JSON form (sorted keys, no spaces); "
            "dome attest did not write it: sign its statements with dome attest --key"
        )
    return statement
