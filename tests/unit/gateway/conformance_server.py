"""The upstream for the MCP conformance suite's server scenarios, written with the ``mcp`` SDK.

``python conformance_server.py PORT`` serves streamable HTTP (SSE responses)
on ``http://127.0.0.1:PORT/mcp`` with the tools, resources and prompts the
scenarios of ``@modelcontextprotocol/conformance`` 0.1.10 ask for (each one's
description says what it expects). It passes every server scenario when the
suite calls it directly; the gateway test checks the same through Charter.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
import uvicorn
from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPDeprecationWarning
from starlette.applications import Starlette
from starlette.routing import Route

PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d4944415478da63f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
    )
).decode()
WAV = base64.b64encode(
    b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00D\xac\x00\x00\x88X\x01\x00"
    b"\x02\x00\x10\x00data\x00\x00\x00\x00"
).decode()
SCHEMA_2020 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "additionalProperties": False,
}
EMPTY: dict[str, Any] = {"type": "object", "properties": {}}


def _tool(name: str, schema: dict[str, Any] | None = None) -> types.Tool:
    return types.Tool(
        name=name, description=f"conformance tool {name}", input_schema=schema or EMPTY
    )


def _string_args(*names: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {n: {"type": "string"} for n in names},
        "required": list(names),
    }


TOOLS = [
    _tool("test_simple_text"),
    _tool("test_image_content"),
    _tool("test_audio_content"),
    _tool("test_embedded_resource"),
    _tool("test_multiple_content_types"),
    _tool("test_tool_with_logging"),
    _tool("test_tool_with_progress"),
    _tool("test_error_handling"),
    _tool("test_sampling", _string_args("prompt")),
    _tool("test_elicitation", _string_args("message")),
    _tool("test_elicitation_sep1034_defaults"),
    _tool("test_elicitation_sep1330_enums"),
    _tool("test_reconnection"),
    _tool("json_schema_2020_12_tool", SCHEMA_2020),
]


def _text(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
    return types.ListToolsResult(tools=TOOLS)


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    name, args = params.name, params.arguments or {}
    session, rid = ctx.session, ctx.request_id
    if name == "test_simple_text":
        return _text("This is a simple text response for testing.")
    if name == "test_image_content":
        return types.CallToolResult(
            content=[types.ImageContent(type="image", data=PNG, mime_type="image/png")]
        )
    if name == "test_audio_content":
        return types.CallToolResult(
            content=[types.AudioContent(type="audio", data=WAV, mime_type="audio/wav")]
        )
    if name == "test_embedded_resource":
        resource = types.TextResourceContents(
            uri="test://embedded-resource",
            mime_type="text/plain",
            text="This is an embedded resource content.",
        )
        return types.CallToolResult(
            content=[types.EmbeddedResource(type="resource", resource=resource)]
        )
    if name == "test_multiple_content_types":
        resource = types.TextResourceContents(
            uri="test://mixed-content-resource",
            mime_type="application/json",
            text=json.dumps({"test": "data", "value": 123}),
        )
        return types.CallToolResult(
            content=[
                types.TextContent(type="text", text="Multiple content types test:"),
                types.ImageContent(type="image", data=PNG, mime_type="image/png"),
                types.EmbeddedResource(type="resource", resource=resource),
            ]
        )
    if name == "test_tool_with_logging":
        for message in (
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ):
            await session.send_log_message("info", message, related_request_id=rid)
            await anyio.sleep(0.05)
        return _text("Tool with logging executed successfully")
    if name == "test_tool_with_progress":
        for done in (0, 50, 100):
            await session.report_progress(done, 100)
            await anyio.sleep(0.05)
        return _text("Tool with progress executed successfully")
    if name == "test_error_handling":
        return types.CallToolResult(
            is_error=True,
            content=[
                types.TextContent(
                    type="text", text="This tool intentionally returns an error for testing"
                )
            ],
        )
    if name == "test_sampling":
        message = types.SamplingMessage(
            role="user", content=types.TextContent(type="text", text=str(args.get("prompt")))
        )
        answer = await session.create_message([message], max_tokens=100, related_request_id=rid)
        content = answer.content
        text = content.text if isinstance(content, types.TextContent) else str(content)
        return _text(f"LLM response: {text}")
    if name in (
        "test_elicitation",
        "test_elicitation_sep1034_defaults",
        "test_elicitation_sep1330_enums",
    ):
        message, schema = _elicitation(name, args)
        result = await session.elicit_form(message, schema, related_request_id=rid)
        return _text(f"Elicitation completed: action={result.action}, content={result.content}")
    if name == "test_reconnection":
        await anyio.sleep(0.1)
        return _text("Reconnection test completed")
    if name == "json_schema_2020_12_tool":
        return _text("ok")
    raise ValueError(f"unknown tool {name}")


def _elicitation(name: str, args: dict[str, Any]) -> tuple[str, Any]:
    if name == "test_elicitation":
        return str(args.get("message")), {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            "required": ["username", "email"],
        }
    if name == "test_elicitation_sep1034_defaults":
        return "Please provide values (defaults shown)", {
            "type": "object",
            "properties": {
                "name": {"type": "string", "default": "John Doe"},
                "age": {"type": "integer", "default": 30},
                "score": {"type": "number", "default": 95.5},
                "status": {
                    "type": "string",
                    "enum": ["active", "inactive", "pending"],
                    "default": "active",
                },
                "verified": {"type": "boolean", "default": True},
            },
        }
    options = ["option1", "option2", "option3"]
    titled = [
        {"const": "value1", "title": "First Option"},
        {"const": "value2", "title": "Second Option"},
        {"const": "value3", "title": "Third Option"},
    ]
    return "Please choose", {
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": options},
            "titledSingle": {"type": "string", "oneOf": titled},
            "legacyEnum": {
                "type": "string",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"],
            },
            "untitledMulti": {"type": "array", "items": {"type": "string", "enum": options}},
            "titledMulti": {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"const": "value1", "title": "First Choice"},
                        {"const": "value2", "title": "Second Choice"},
                        {"const": "value3", "title": "Third Choice"},
                    ]
                },
            },
        },
    }


RESOURCES = [
    types.Resource(
        uri="test://static-text", name="static-text", description="text", mime_type="text/plain"
    ),
    types.Resource(
        uri="test://static-binary", name="static-binary", description="png", mime_type="image/png"
    ),
    types.Resource(
        uri="test://watched-resource",
        name="watched",
        description="subscribable",
        mime_type="text/plain",
    ),
]


async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
    return types.ListResourcesResult(resources=RESOURCES)


async def list_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
    template = types.ResourceTemplate(
        uri_template="test://template/{id}/data",
        name="template",
        description="a template",
        mime_type="application/json",
    )
    return types.ListResourceTemplatesResult(resource_templates=[template])


async def read_resource(
    ctx: Any, params: types.ReadResourceRequestParams
) -> types.ReadResourceResult:
    uri = str(params.uri)
    contents: Any
    if uri == "test://static-binary":
        contents = types.BlobResourceContents(uri=uri, mime_type="image/png", blob=PNG)
    elif uri.startswith("test://template/") and uri.endswith("/data"):
        ident = uri.removeprefix("test://template/").removesuffix("/data")
        text = json.dumps({"id": ident, "templateTest": True, "data": f"Data for ID: {ident}"})
        contents = types.TextResourceContents(uri=uri, mime_type="application/json", text=text)
    elif uri in ("test://static-text", "test://watched-resource"):
        text = "This is the content of the static text resource."
        contents = types.TextResourceContents(uri=uri, mime_type="text/plain", text=text)
    else:
        raise ValueError(f"unknown resource {uri}")
    return types.ReadResourceResult(contents=[contents])


SUBSCRIBED: set[str] = set()


async def subscribe(ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
    SUBSCRIBED.add(str(params.uri))
    path = os.environ.get("SUBSCRIBE_LOG")  # tests read which subscriptions this process got
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {params.uri}\n")
    return types.EmptyResult()


async def unsubscribe(ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
    SUBSCRIBED.discard(str(params.uri))
    return types.EmptyResult()


def _arg(name: str) -> types.PromptArgument:
    return types.PromptArgument(name=name, description=name, required=True)


PROMPTS = [
    types.Prompt(name="test_simple_prompt", description="simple"),
    types.Prompt(
        name="test_prompt_with_arguments",
        description="args",
        arguments=[_arg("arg1"), _arg("arg2")],
    ),
    types.Prompt(
        name="test_prompt_with_embedded_resource",
        description="embedded",
        arguments=[_arg("resourceUri")],
    ),
    types.Prompt(name="test_prompt_with_image", description="image"),
]


async def list_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=PROMPTS)


def _user(content: Any) -> types.PromptMessage:
    return types.PromptMessage(role="user", content=content)


async def get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
    args = params.arguments or {}
    text = lambda value: types.TextContent(type="text", text=value)  # noqa: E731
    if params.name == "test_simple_prompt":
        messages = [_user(text("This is a simple prompt for testing."))]
    elif params.name == "test_prompt_with_arguments":
        line = f"Prompt with arguments: arg1='{args.get('arg1')}', arg2='{args.get('arg2')}'"
        messages = [_user(text(line))]
    elif params.name == "test_prompt_with_embedded_resource":
        resource = types.TextResourceContents(
            uri=str(args.get("resourceUri")),
            mime_type="text/plain",
            text="Embedded resource content for testing.",
        )
        messages = [
            _user(types.EmbeddedResource(type="resource", resource=resource)),
            _user(text("Please process the embedded resource above.")),
        ]
    elif params.name == "test_prompt_with_image":
        messages = [
            _user(types.ImageContent(type="image", data=PNG, mime_type="image/png")),
            _user(text("Please analyze the image above.")),
        ]
    else:
        raise ValueError(f"unknown prompt {params.name}")
    return types.GetPromptResult(messages=messages)


async def complete(ctx: Any, params: types.CompleteRequestParams) -> types.CompleteResult:
    values = [v for v in ("paris", "park", "party") if v.startswith(params.argument.value)]
    return types.CompleteResult(
        completion=types.Completion(values=values, total=len(values), has_more=False)
    )


async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
    return types.EmptyResult()


def build() -> Server[Any]:
    with warnings.catch_warnings():  # the suite still tests logging (deprecated at 2026-07-28)
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        return _server()


def _server() -> Server[Any]:
    return Server(
        "conformance-upstream",
        version="1.0.0",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
        on_subscribe_resource=subscribe,
        on_unsubscribe_resource=unsubscribe,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_completion=complete,
        on_set_logging_level=set_level,
    )


def main(port: int) -> None:
    manager = StreamableHTTPSessionManager(app=build(), json_response=False)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    app = Starlette(routes=[Route("/mcp", StreamableHTTPASGIApp(manager))], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]))
