"""pytest plugin for ``make mutate``: run only the mutated module's own tests.

mutmut names the mutant under test in ``MUTANT_UNDER_TEST``
(``charter.domain.patterns.x_covers__mutmut_3``) and passes every test that
reached the mutated function; this deselects those outside the module's list in
``modules.toml``. Other runs (mutmut's stats, clean and forced-fail runs, plain
pytest) are left alone. A module without an entry keeps every test: fail open
to more testing, never to less.

Each mutant runs in a process forked from the one that ran the clean tests, so
a memoised function (``patterns._parse`` behind ``lru_cache``, the local clock
``conditions`` keeps per minute) would answer from results the unmutated code
computed and hide the mutant: every ``functools`` cache in Charter's modules,
and the memo dicts listed under ``[caches]``, are emptied before a mutant's
tests run.
"""

from __future__ import annotations

import os
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

MODULES = Path(__file__).with_name("modules.toml")


@cache
def config() -> dict[str, dict[str, list[str]]]:
    loaded: dict[str, dict[str, list[str]]] = tomllib.loads(MODULES.read_text(encoding="utf-8"))
    return loaded


@cache
def test_prefixes() -> dict[str, tuple[str, ...]]:
    modules = config()["modules"]
    return {
        module: (*paths, f"tests/unit/test_mutants_{module.rpartition('.')[2]}.py")
        for module, paths in modules.items()
    }


def prefixes_for(mutant: str) -> tuple[str, ...] | None:
    """The node-id prefixes of the tests for ``mutant``, or None to keep every test."""
    if "__mutmut_" not in mutant:
        return None
    return test_prefixes().get(mutant.rpartition(".")[0])


def clear_caches() -> None:
    """Empty every ``functools`` cache at module level in ``charter``, and the listed memos."""
    memos = config().get("caches", {})
    for name, module in list(sys.modules.items()):
        if name == "charter" or name.startswith("charter."):
            for value in list(vars(module).values()):
                clear = getattr(value, "cache_clear", None)
                if callable(clear):
                    clear()
            for memo in memos.get(name, []):
                getattr(module, memo).clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    if "__mutmut_" in mutant:
        clear_caches()
    prefixes = prefixes_for(mutant)
    if prefixes is None:
        return
    kept = [item for item in items if item.nodeid.startswith(prefixes)]
    dropped = [item for item in items if not item.nodeid.startswith(prefixes)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
