"""Every package of charter sits in a layer the import contracts check.

``lint-imports`` (in ``make lint``) only checks the packages its contracts
name: a new top-level package would escape the layering silently. This test
fails until the package is placed in ``[tool.importlinter]`` (and in
docs/architecture.md).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "charter"
#: modules every layer may import: error types, settings, the version
BASE_MODULES = {"errors", "config", "version"}


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _layered() -> set[str]:
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    names: set[str] = set()
    for layer in layers["layers"]:  # type: ignore[union-attr]
        names.update(part.strip() for part in str(layer).replace(":", "|").split("|"))
    return names


def test_every_package_and_module_of_charter_is_in_a_layer() -> None:
    present = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    present |= {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    unplaced = present - _layered() - BASE_MODULES
    assert not unplaced, f"place these in [tool.importlinter] layers: {sorted(unplaced)}"


def test_every_layer_names_a_real_package() -> None:
    present = {p.name for p in SRC.iterdir() if p.is_dir()} | {p.stem for p in SRC.glob("*.py")}
    assert _layered() <= present


def test_the_domain_and_the_sdk_are_held_by_forbidden_contracts() -> None:
    sources = {
        module
        for contract in _contracts()
        if contract["type"] == "forbidden"
        for module in contract["source_modules"]  # type: ignore[attr-defined]
    }
    assert {"charter.domain", "charter.sdk", "charter.api", "charter.web"} <= sources
