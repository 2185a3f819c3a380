"""Names route exactly: prefixes, duplicates, invalid names and path tricks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import mcp_types as types
import pytest

from charter.gateway.directory import Directory


def tool(name: str) -> types.Tool:
    return types.Tool(name=name, input_schema={"type": "object"})


def upstream(name: str, tools: list[str], prefix: str = "", **catalogue: Any) -> Any:
    return SimpleNamespace(
        name=name,
        config=SimpleNamespace(tool_prefix=prefix),
        catalogue=SimpleNamespace(
            tools=[tool(t) for t in tools],
            prompts=catalogue.get("prompts", []),
            resources=catalogue.get("resources", []),
            templates=catalogue.get("templates", []),
        ),
    )


def test_prefixes_duplicates_and_invalid_names() -> None:
    directory = Directory()
    directory.rebuild(
        [
            upstream("helpdesk", ["read_ticket", "send_email", "bad name", "../escape"]),
            upstream("mail", ["send_email"], prefix="mail."),
            upstream("shadow", ["read_ticket"]),
        ]
    )
    assert set(directory.tools) == {"read_ticket", "send_email", "mail.send_email"}
    assert directory.tools["read_ticket"].upstream == "helpdesk"  # first in the config keeps it
    entry = directory.tools["mail.send_email"]
    assert (entry.upstream, entry.name, entry.tool.name) == (
        "mail",
        "send_email",
        "mail.send_email",
    )
    assert entry.resource == "mail:tools/send_email"


@pytest.mark.parametrize(
    "name",
    [
        "../read_ticket",
        "helpdesk/../read_ticket",
        "./read_ticket",
        "read_ticket/",
        "READ_TICKET",
        "read_ticket\x00",
        "read_ticket ",
        "rеad_ticket",  # Cyrillic е
        "helpdesk:tools/read_ticket",
        "%2e%2e/read_ticket",
        "",
        "read*",
        7,
        None,
    ],
)
def test_lookups_are_exact(name: object) -> None:
    directory = Directory()
    directory.rebuild([upstream("helpdesk", ["read_ticket"])])
    assert directory.tool(name) is None  # type: ignore[arg-type]
    assert directory.tool("read_ticket") is not None


def test_resources_route_to_one_owner() -> None:
    directory = Directory()
    template = types.ResourceTemplate(name="t", uri_template="tickets://{id}")
    directory.rebuild(
        [
            upstream(
                "a",
                [],
                resources=[types.Resource(name="q", uri="queues://all")],
                templates=[template],
            ),
            upstream(
                "b",
                [],
                templates=[types.ResourceTemplate(name="t2", uri_template="tickets://{id}/notes")],
            ),
        ]
    )
    assert directory.resource_owner("queues://all") == "a"
    assert directory.resource_owner("tickets://7") == "a"
    assert directory.resource_owner("tickets://7/notes") is None  # both templates match: ambiguous
    assert directory.resource_owner("unknown://x") is None
    assert directory.resource_owner("tickets://" + "x" * 5000) is None
