"""Kubernetes timestamps: RFC 3339 in UTC with whole seconds ("2026-11-29T05:14:54Z").

The one place times are formatted and parsed: the API's timestamps have no fractions, and
records compare with them, so every time we write goes through `format_time`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def format_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any) -> dt.datetime | None:
    """A timestamp as the API or a kopf body gives it (string or datetime); None for none.
    A naive datetime is taken as UTC."""
    if not value:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
