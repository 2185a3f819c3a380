"""The HTTP layers import downwards only: http/ below api/ and web/, which are siblings.

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "charter"

#: package -> packages it must never import (at any depth, lazily or not)
FORBIDDEN = {
    "http": ("charter.api", "charter.web", "charter.cli", "charter.gateway", "charter.server"),
    "api": ("charter.web", "charter.cli", "charter.gateway", "charter.server"),
    "web": ("charter.api", "charter.cli", "charter.gateway", "charter.server"),
    "gateway": ("charter.api", "charter.web", "charter.cli", "charter.server"),
    "services": (
        "charter.api",
        "charter.web",
        "charter.cli",
        "charter.gateway",
        "charter.http",
        "charter.server",
    ),
}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _breaks(name: str, forbidden: tuple[str, ...]) -> bool:
    return any(name == banned or name.startswith(banned + ".") for banned in forbidden)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_lower_layers(package: str) -> None:
    found = [
        f"{path.relative_to(SRC)}: {name}"
        for path in sorted((SRC / package).rglob("*.py"))
        for name in _imports(path)
        if _breaks(name, FORBIDDEN[package])
    ]
    assert found == []


def test_the_rule_sees_a_lazy_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from charter.cli.runtime import get_services\n")
    assert any(_breaks(name, FORBIDDEN["gateway"]) for name in _imports(module))
