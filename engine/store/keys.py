"""The items table's unique key: the identity hash's first 64 bits as a signed integer.

Why not the hash itself: a UNIQUE index on a random 64-character text made up most of a bulk ingest's time (7.9 of
13.2 µs per row of writer time, bench/ingest.md); an 8-byte integer index is a fraction of that. The full hash stays
in ``items.identity_hash`` and is compared whenever a key matches, so two different texts with one key (about
n²/2⁶⁵ for n items: 3e-8 at a million) are found and reported as a collision, never merged.
"""

from __future__ import annotations

from collections.abc import Sequence


def identity_key(identity_hash: str) -> int:
    """``items.identity_key`` for an identity hash (hex): its first 16 hex digits, big-endian, signed 64-bit.
    A key shared by two different hashes is a collision: the store reports it and ingest quarantines the later
    row (reason ``identity_collision``)."""
    if len(identity_hash) < 16:
        raise ValueError(f"identity hash {identity_hash!r} is shorter than 16 hex digits")
    try:
        return int.from_bytes(bytes.fromhex(identity_hash[:16]), "big", signed=True)
    except ValueError:
        raise ValueError(f"identity hash {identity_hash!r} is not hexadecimal") from None


def identity_keys(hashes: Sequence[str]) -> list[int]:
    """:func:`identity_key` of each hash (one tight loop; bad hashes raise as there)."""
    fromhex, from_bytes = bytes.fromhex, int.from_bytes
    try:
        if min(map(len, hashes), default=16) < 16:
            raise ValueError
        return [from_bytes(fromhex(h[:16]), "big", signed=True) for h in hashes]
    except ValueError:
        for h in hashes:
            identity_key(h)  # names the bad one
        raise
