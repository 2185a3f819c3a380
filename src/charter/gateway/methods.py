"""The MCP methods around the three decided ones: completion, subscriptions, logging level.

Each is decided in the vocabulary of what it names, so a charter says it once:

- ``completion/complete`` for a prompt: ``prompts.get`` on ``<upstream>:prompts/<prompt>``;
- ``completion/complete`` for a resource (template): ``resources.read`` on
  ``<upstream>:resources/<uri>``;
- ``resources/subscribe``: ``resources.read`` on ``<upstream>:resources/<uri>``.

Completing an argument of a prompt reveals what the prompt would; being told a
resource changed is reading it. ``resources/unsubscribe`` only takes back what
the connection asked for and is not decided; ``logging/setLevel`` sets the
level of the log messages relayed to that agent connection (the upstream
session is shared, so its level is not touched).

The upstream holds one subscription per URI, however many agents asked; the
gateway fans ``notifications/resources/updated`` out to the agent connections
that subscribed, unsubscribes upstream when the last one leaves, and subscribes
again when the upstream reconnects (a new session knows no subscriptions).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import mcp_types as types
from starlette.requests import Request

from charter.gateway.directory import GET_PROMPT, READ_RESOURCE, resource_of
from charter.gateway.refusals import safe_name
from charter.gateway.upstream import Upstream, UpstreamError

if TYPE_CHECKING:
    from charter.gateway.server import Ctx, Gateway

logger = logging.getLogger("charter.gateway.methods")


def connection_key(ctx: Ctx) -> str:
    """Which agent connection a request came on (its MCP session, else the transport)."""
    request = ctx.request
    if isinstance(request, Request):
        session = request.headers.get("mcp-session-id")
        if session:
            return f"http:{session}"
        return f"request:{id(request)}"
    return "stdio"


def _template_owner(gateway: Gateway, uri: str) -> str | None:
    for entry in gateway.directory.templates:
        if entry.pattern.text == uri or entry.template.uri_template == uri:
            return entry.upstream
    return gateway.directory.resource_owner(uri)


async def complete(gateway: Gateway, ctx: Ctx, params: types.CompleteRequestParams) -> Any:
    principal = await gateway.principal(ctx)
    ref = params.ref
    if isinstance(ref, types.PromptReference):
        entry = gateway.directory.prompt(ref.name)
        if entry is None:
            gateway.refuse_unknown(principal, "prompt", ref.name)
        assert entry is not None
        upstream, action, resource, shown = entry.upstream, GET_PROMPT, entry.resource, entry.name
        forwarded_ref: Any = types.PromptReference(type="ref/prompt", name=entry.name)
    else:
        uri = str(ref.uri)
        owner = _template_owner(gateway, uri)
        if owner is None:
            gateway.refuse_unknown(principal, "resource", uri)
        assert owner is not None
        upstream, action, resource, shown = owner, READ_RESOURCE, resource_of(owner, uri), uri
        forwarded_ref = ref
    what = f"completing {params.argument.name} of {safe_name(shown)} on {upstream}"
    arguments = {"argument": params.argument.name, "value": params.argument.value}
    context = gateway.context(ctx, "completion/complete", upstream, shown, arguments)
    decision, started = await gateway.decide(ctx, principal, what, action, resource, context)
    request = types.CompleteRequest(
        params=types.CompleteRequestParams(
            ref=forwarded_ref, argument=params.argument, context=params.context
        )
    )
    try:
        return await gateway.forward(
            ctx, principal, upstream, resource, request, types.CompleteResult
        )
    finally:
        gateway.record_decision(principal, action, resource, decision, started)


async def subscribe(gateway: Gateway, ctx: Ctx, params: types.SubscribeRequestParams) -> Any:
    principal = await gateway.principal(ctx)
    uri = str(params.uri)
    upstream = _template_owner(gateway, uri)
    if upstream is None:
        gateway.refuse_unknown(principal, "resource", uri)
    assert upstream is not None
    resource = resource_of(upstream, uri)
    context = gateway.context(ctx, "resources/subscribe", upstream, uri, {"uri": uri})
    what = f"subscribing to {safe_name(uri)} on {upstream}"
    decision, started = await gateway.decide(ctx, principal, what, READ_RESOURCE, resource, context)
    subscribers = gateway.relay.subscribers.setdefault(upstream, {}).setdefault(uri, {})
    try:
        if not subscribers:
            request = types.SubscribeRequest(params=types.SubscribeRequestParams(uri=uri))
            await gateway.forward(ctx, principal, upstream, resource, request, types.EmptyResult)
        subscribers[connection_key(ctx)] = (principal.agent, ctx.session)
    finally:
        gateway.record_decision(principal, READ_RESOURCE, resource, decision, started)
    return types.EmptyResult()


async def unsubscribe(gateway: Gateway, ctx: Ctx, params: types.UnsubscribeRequestParams) -> Any:
    principal = await gateway.principal(ctx)
    uri = str(params.uri)
    for upstream, by_uri in gateway.relay.subscribers.items():
        subscribers = by_uri.get(uri)
        if subscribers is None or subscribers.pop(connection_key(ctx), None) is None:
            continue
        if not subscribers:
            del by_uri[uri]
            request = types.UnsubscribeRequest(params=types.UnsubscribeRequestParams(uri=uri))
            resource = resource_of(upstream, uri)
            await gateway.forward(ctx, principal, upstream, resource, request, types.EmptyResult)
    return types.EmptyResult()


async def renew_subscriptions(gateway: Gateway, upstream: Upstream) -> None:
    """After a reconnect, subscribe again upstream to every URI agents still hold: the new
    session knows none of them. Each was decided when the agent subscribed."""
    if upstream.connections < 2:
        return
    for uri, subscribers in list(gateway.relay.subscribers.get(upstream.name, {}).items()):
        if not subscribers:
            continue
        request = types.SubscribeRequest(params=types.SubscribeRequestParams(uri=uri))
        try:
            await upstream.request(request, types.EmptyResult)
        except UpstreamError as error:
            logger.warning(
                "renewing the subscription to %s on %s failed: %s",
                safe_name(uri),
                upstream.name,
                error.message,
            )


async def set_level(gateway: Gateway, ctx: Ctx, params: types.SetLevelRequestParams) -> Any:
    await gateway.principal(ctx)
    levels = gateway.relay.levels
    if len(levels) > 10_000:
        levels.clear()
    levels[connection_key(ctx)] = params.level
    return types.EmptyResult()
