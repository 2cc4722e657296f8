"""Canonical, order-insensitive digests of build inputs. Pure.

Callers say what is a set by passing a `frozenset` (or a `Mapping`, whose key order never
matters); lists keep their order because order means something there. The canonical form
is JSON with sorted keys and sorted set members, so equal meaning gives equal bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any


def canonical(value: Any) -> Any:
    """A JSON-ready form where sets are sorted lists and mappings have string keys."""
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        members = [canonical(v) for v in value]
        return sorted(members, key=lambda m: json.dumps(m, sort_keys=True))
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot hash a {type(value).__name__}")


def canonical_bytes(value: Any) -> bytes:
    return json.dumps(
        canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def digest(value: Any, length: int = 64) -> str:
    """Hex SHA-256 of the canonical form, cut to `length` characters."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()[:length]
