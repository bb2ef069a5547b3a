"""A digest sealed into the model file itself, so a lone file verifies itself.

The embedded manifest is written with a fixed-length placeholder (``"seal": "sha256:0…0"``);
after the file is complete, its sha256 is computed and written over the placeholder's
zeros (same length, so no offset in the flatbuffer or protobuf moves). To check, the
digest is set back to zeros and the file hashed again: any change to any byte, the
manifest included, makes the digests differ.

The seal is found by scanning the raw bytes, before any parser reads the file, so a
file whose manifest entry was damaged is still recognised as sealed and refused.
"""

from __future__ import annotations

import hashlib

from edgekit.runtime.errors import IntegrityError

SEAL_KEY = "seal"
# json.dumps' default separators write exactly this before the digest.
MARKER = b'"seal": "sha256:'
ZEROS = "0" * 64
PLACEHOLDER = "sha256:" + ZEROS
_HEX = frozenset(b"0123456789abcdef")


def seal(content: bytes) -> bytes:
    """Write the file's digest over the one placeholder in ``content``."""
    target = MARKER + ZEROS.encode()
    position = content.find(target)
    if position < 0 or content.find(target, position + 1) >= 0:
        raise ValueError("expected exactly one seal placeholder in the file")
    digest = hashlib.sha256(content).hexdigest().encode()
    start = position + len(MARKER)
    return content[:start] + digest + content[start + 64:]


def find(content: bytes) -> int | None:
    """Offset of the sealed digest's first hex character, or None for an unsealed file."""
    position = content.find(MARKER)
    return None if position < 0 else position + len(MARKER)


def check(content: bytes, name: str) -> bool:
    """True when the file carries a seal that matches; IntegrityError when it does not."""
    start = find(content)
    if start is None:
        return False
    recorded = content[start:start + 64]
    unsealed = content[:start] + ZEROS.encode() + content[start + 64:]
    actual = hashlib.sha256(unsealed).hexdigest().encode()
    if len(recorded) != 64 or not set(recorded) <= _HEX or recorded != actual:
        raise IntegrityError(
            f"{name}: the file does not match the digest sealed into it; it is corrupted or was changed",
            hint="copy the export again, or pass verify=False / --no-verify to run it anyway",
        )
    return True
