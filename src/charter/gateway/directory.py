"""The gateway's directory: every tool, resource and prompt it offers, and where each goes.

Upstream catalogues are merged into one name space. A name an agent sends is
looked up *exactly* here — never parsed, normalised or resolved as a path — so
``../delete_table``, ``helpdesk/../mail.send_email`` or a look-alike in another
script is simply unknown and is refused before anything is decided or
forwarded. Upstream tool names that do not follow the MCP naming rule
(SEP-986: ``[A-Za-z0-9._-]{1,128}``) are left out, and when two upstreams
offer the same visible name the first in the config keeps it and the other is
left out, logged: a name must route to one place.

Each entry knows the request Charter decides for it:

==============  ===============  ==========================================
MCP request     action           resource
==============  ===============  ==========================================
tools/call      the tool's name  ``<upstream>:tools/<tool name>``
resources/read  resources.read   ``<upstream>:resources/<uri>``
prompts/get     prompts.get      ``<upstream>:prompts/<prompt name>``
==============  ===============  ==========================================
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

import mcp_types as types

from charter.domain.patterns import Pattern
from charter.errors import InvalidInput
from charter.gateway.upstream import Upstream
from charter.gateway.visibility import template_pattern

logger = logging.getLogger("charter.gateway.directory")

TOOL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
READ_RESOURCE = "resources.read"
GET_PROMPT = "prompts.get"
MAX_URI_LENGTH = 1900


@dataclass(frozen=True, slots=True)
class ToolEntry:
    visible: str  #: the name the agent sees and calls
    upstream: str  #: the upstream server: the system
    name: str  #: the upstream's own name: the action
    tool: types.Tool  #: as listed to agents (with the visible name)

    @property
    def resource(self) -> str:
        return f"{self.upstream}:tools/{self.name}"


@dataclass(frozen=True, slots=True)
class PromptEntry:
    visible: str
    upstream: str
    name: str
    prompt: types.Prompt

    @property
    def resource(self) -> str:
        return f"{self.upstream}:prompts/{self.name}"


@dataclass(frozen=True, slots=True)
class TemplateEntry:
    upstream: str
    template: types.ResourceTemplate
    pattern: Pattern


def resource_of(upstream: str, uri: str) -> str:
    return f"{upstream}:resources/{uri}"


class Directory:
    """An immutable-per-rebuild index; rebuilt whenever an upstream's catalogue changes."""

    def __init__(self) -> None:
        self.tools: dict[str, ToolEntry] = {}
        self.prompts: dict[str, PromptEntry] = {}
        self.resources: dict[str, tuple[str, types.Resource]] = {}
        self.templates: list[TemplateEntry] = []
        self.version = 0

    def rebuild(self, upstreams: Iterable[Upstream]) -> None:
        tools: dict[str, ToolEntry] = {}
        prompts: dict[str, PromptEntry] = {}
        resources: dict[str, tuple[str, types.Resource]] = {}
        templates: list[TemplateEntry] = []
        for upstream in upstreams:
            prefix = upstream.config.tool_prefix
            for tool in upstream.catalogue.tools:
                visible = prefix + tool.name
                if not TOOL_NAME.match(tool.name) or not TOOL_NAME.match(visible):
                    logger.warning(
                        "upstream %s: tool %r has an invalid name; not offered",
                        upstream.name,
                        tool.name,
                    )
                    continue
                if visible in tools:
                    logger.warning(
                        "tool %r is offered by %s and %s; only %s's is used",
                        visible,
                        tools[visible].upstream,
                        upstream.name,
                        tools[visible].upstream,
                    )
                    continue
                shown = tool.model_copy(update={"name": visible}) if prefix else tool
                tools[visible] = ToolEntry(visible, upstream.name, tool.name, shown)
            for prompt in upstream.catalogue.prompts:
                visible = prefix + prompt.name
                if (
                    not TOOL_NAME.match(prompt.name)
                    or not TOOL_NAME.match(visible)
                    or visible in prompts
                ):
                    logger.warning("upstream %s: prompt %r not offered", upstream.name, prompt.name)
                    continue
                listed = prompt.model_copy(update={"name": visible}) if prefix else prompt
                prompts[visible] = PromptEntry(visible, upstream.name, prompt.name, listed)
            for resource in upstream.catalogue.resources:
                uri = str(resource.uri)
                if len(uri) > MAX_URI_LENGTH or uri in resources:
                    continue
                resources[uri] = (upstream.name, resource)
            for template in upstream.catalogue.templates:
                try:
                    pattern = template_pattern(template.uri_template)
                except InvalidInput:
                    logger.warning(
                        "upstream %s: resource template %r is too complex; not offered",
                        upstream.name,
                        template.uri_template,
                    )
                    continue
                templates.append(TemplateEntry(upstream.name, template, pattern))
        self.tools, self.prompts, self.resources, self.templates = (
            tools,
            prompts,
            resources,
            templates,
        )
        self.version += 1

    def tool(self, name: str) -> ToolEntry | None:
        return self.tools.get(name) if type(name) is str else None

    def prompt(self, name: str) -> PromptEntry | None:
        return self.prompts.get(name) if type(name) is str else None

    def resource_owner(self, uri: str) -> str | None:
        """The one upstream that serves ``uri``: listed exactly, else by exactly one template."""
        if len(uri) > MAX_URI_LENGTH:
            return None
        listed = self.resources.get(uri)
        if listed is not None:
            return listed[0]
        owners = {entry.upstream for entry in self.templates if entry.pattern.matches(uri)}
        return owners.pop() if len(owners) == 1 else None
