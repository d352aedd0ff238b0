"""The sequencer's signing key file: 32 bytes as hex, mode 0600, never logged."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from coincurve import PrivateKey

from sequencer.core.hashing import keccak
from sequencer.errors import BadInput


def address_of(secret: bytes) -> bytes:
    return keccak(PrivateKey(secret).public_key.format(compressed=False)[1:])[12:]


def write_key(path: Path, secret: bytes | None = None, *, overwrite: bool = False) -> bytes:
    """Create a key file; returns the key's address."""
    secret = secret or secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise BadInput(f"key file {path} exists; refusing to overwrite it") from None
    except OSError as exc:
        raise BadInput(f"cannot write key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(secret.hex() + "\n")
    return address_of(secret)


def read_key(path: Path) -> bytes:
    try:
        text = path.read_text().strip().removeprefix("0x")
    except FileNotFoundError:
        raise BadInput(f"key file {path} does not exist; create it with `sharedseq keygen --out {path}`") from None
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) != 32:
        raise BadInput(f"key file {path}: expected 32 bytes of hex")
    return secret
