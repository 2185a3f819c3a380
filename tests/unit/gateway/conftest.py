"""Gateway unit tests run their async parts on asyncio (the gateway's runtime)."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
