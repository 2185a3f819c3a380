"""The commands of deploy/commands.yaml, rendered: what compose, Helm and the tests run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ROOT / "deploy" / "commands.yaml"


def _load() -> dict[str, Any]:
    loaded = yaml.safe_load(COMMANDS.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def names() -> list[str]:
    return sorted(_load()["commands"])


def command(name: str, **values: str | int) -> list[str]:
    """``name``'s argv with the defaults, overridden by ``values`` (e.g. ``port=8123``)."""
    loaded = _load()
    filled = {**loaded["defaults"], **{k: str(v) for k, v in values.items()}}
    unknown = set(values) - set(loaded["defaults"])
    assert not unknown, f"deploy/commands.yaml has no placeholder {sorted(unknown)}"
    return [str(part).format(**filled) for part in loaded["commands"][name]]
