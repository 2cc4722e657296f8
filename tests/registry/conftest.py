"""Registry fixtures: one real local registry per test module (a module may define its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hack import registry
from tests.support.polling import require


@pytest.fixture(scope="module")
def reg() -> Iterator[registry.LocalRegistry]:
    require(registry.missing_tools(), "run hack/setup.sh (Debian's buildah, skopeo, registry)")
    with registry.LocalRegistry() as r:
        yield r
