"""A stored charter written back as the file a person edits (``charter agent export``).

Every setting is spelled out, defaults included (the review cadence, the token
lifetime), so the file shows what can be changed; only empty condition lists are
left out. Parsed again, it is the same charter, so ``charter agent update`` of an
unedited export records no new version.
"""

from __future__ import annotations

from typing import Any

import yaml

from charter.domain.charter import CharterSpec


class _Dumper(yaml.SafeDumper):
    """Short lists of plain values on one line (``days: [mon, tue]``), the rest as blocks."""


def _represent_list(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.SequenceNode:
    flat = all(isinstance(item, str | int | float | bool) for item in items)
    short = len(items) <= 8 and sum(len(str(item)) for item in items) <= 60
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flat and short)


_Dumper.add_representer(list, _represent_list)


def charter_file_text(document: dict[str, Any], *, version: int) -> str:
    """The YAML file for a stored charter *document* (version *version*), with a header."""
    spec = CharterSpec.model_validate(document)
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    for section in ("allow", "deny"):
        for rule in data.get(section, []):
            if rule.get("when") == []:
                del rule["when"]
    header = (
        f"# {spec.name}, charter v{version}. Edit, then: charter agent update FILE --reason ...\n"
        "# (a change that widens an active agent's access waits for a second person's approval)\n"
    )
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return header + body


__all__ = ["charter_file_text"]
