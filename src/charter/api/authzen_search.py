"""OpenID AuthZEN 1.0 Search API: ``POST /access/v1/search/{subject,resource,action}``.

* subject search: who may do ``action`` on ``resource``? ``subject.type``
  ``agent`` searches agents, any other type the directory's people (their own
  access, through roles); ``subject.id`` is ignored, as the spec requires;
* resource search: on which resources of ``resource.type`` (the system) may the
  subject do ``action``? ``resource.id`` is ignored;
* action search: which actions may the subject do on the resource?

Every result is allowed by an evaluation of the same request (see
:mod:`charter.domain.search` for the pattern convention). Answers are paged
[§8.2]: ``page.limit`` (default 100, at most 1,000; ``0`` counts only) and
``page.token`` from the previous ``page.next_token``, which is empty at the end;
``page.count`` and ``page.total`` are given. A malformed request or page token
is a 400 problem naming the field, never a result. The paths sit under
``/access``, so they need a PEP key like the evaluation endpoints.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.api.authzen import MAX_CONTEXT_BYTES, BadRequest
from charter.domain.nesting import MAX_DEPTH, nests_deeper
from charter.errors import InvalidInput
from charter.http.problems import problem
from charter.http.request_id import echoable_request_id
from charter.services.search import SearchKind, SearchRequest, SearchService

router = APIRouter(tags=["authzen"])

MAX_SEARCH_BYTES = 1024 * 1024
MAX_PAGE_LIMIT_VALUE = 2**31 - 1
PAGE_KEYS = ("token", "limit", "properties")
JSON = "application/json"


def _object(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        raise BadRequest(f"{where} is required")
    if type(value) is not dict:
        raise BadRequest(f"{where} must be a JSON object")
    return value


def _string(value: Any, where: str, limit: int, *, empty: bool = False) -> str:
    if type(value) is not str:
        kind = "a string" if empty else "a non-empty string"
        raise BadRequest(f"{where} must be {kind}")
    if not value and not empty:
        raise BadRequest(f"{where} must be a non-empty string")
    if len(value) > limit:
        raise BadRequest(f"{where} is longer than {limit} characters", 413)
    return value


def _context(document: dict[str, Any], entities: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The Charter context, built as an evaluation builds it (entity properties reachable)."""
    raw = document.get("context")
    context = {} if raw is None else _object(raw, "context")
    for key, holder in entities.items():
        properties = holder.get("properties")
        if properties is None:
            continue
        properties = _object(properties, f"{key}.properties")
        if key not in context:
            context = {**context, key: properties}
    if context:
        try:
            dumped = orjson.dumps(context)
        except orjson.JSONEncodeError as exc:
            raise BadRequest(f"the context nests deeper than {MAX_DEPTH} levels") from exc
        if len(dumped) > MAX_CONTEXT_BYTES:
            raise BadRequest(f"the context is larger than {MAX_CONTEXT_BYTES} bytes", 413)
        if nests_deeper(dumped, MAX_DEPTH):
            raise BadRequest(f"the context nests deeper than {MAX_DEPTH} levels")
    return context


def _page(document: dict[str, Any]) -> tuple[str | None, int | None]:
    raw = document.get("page")
    if raw is None:
        return None, None
    page = _object(raw, "page")
    for key in page:
        if key not in PAGE_KEYS:
            raise BadRequest(f"page.{key} is not a page parameter here (token, limit, properties)")
    token = page.get("token")
    if token is not None:
        token = _string(token, "page.token", 1024, empty=True) or None
    limit = page.get("limit")
    if limit is not None and (type(limit) is not int or not 0 <= limit <= MAX_PAGE_LIMIT_VALUE):
        raise BadRequest("page.limit must be a non-negative integer (at most 1,000 are served)")
    if page.get("properties") is not None:
        _object(page["properties"], "page.properties")
    return token, limit


def _on_behalf_of(subject: dict[str, Any]) -> str | None:
    properties = subject.get("properties")
    if type(properties) is not dict:
        return None
    delegator = properties.get("on_behalf_of")
    if type(delegator) is dict:
        delegator = delegator.get("id")
    if delegator is None:
        return None
    return _string(delegator, "subject.properties.on_behalf_of", 320)


def parse_search(document: dict[str, Any], kind: SearchKind) -> SearchRequest:
    """A search request as the service takes it, or :class:`BadRequest` naming the field."""
    subject = _object(document.get("subject"), "subject")
    resource = _object(document.get("resource"), "resource")
    subject_type = _string(subject.get("type"), "subject.type", 256)
    resource_type = _string(resource.get("type"), "resource.type", 256)
    subject_id = None
    if kind is not SearchKind.SUBJECT:
        subject_id = _string(subject.get("id"), "subject.id", 320)
    resource_id = None
    if kind is not SearchKind.RESOURCE:
        resource_id = _string(resource.get("id"), "resource.id", 1792, empty=True)
    entities = {"subject": subject, "resource": resource}
    action_name = None
    if kind is not SearchKind.ACTION:
        action = _object(document.get("action"), "action")
        action_name = _string(action.get("name"), "action.name", 256)
        entities["action"] = action
    context = _context(document, entities)
    token, limit = _page(document)
    bound = {
        "subject": {**subject, "id": subject_id},
        "action": entities.get("action"),
        "resource": {**resource, "id": resource_id},
        "context": context,
    }
    return SearchRequest(
        kind,
        subject_type,
        subject_id,
        action_name,
        resource_type,
        resource_id,
        context,
        _on_behalf_of(subject),
        token,
        limit,
        bound,
    )


def _headers(request: Request) -> dict[str, str]:
    request_id = echoable_request_id(request.headers.get("x-request-id"))
    return {"X-Request-ID": request_id} if request_id else {}


def _refusal(request: Request, message: str, status: int, field: str | None) -> Response:
    response = problem(
        status,
        "InvalidRequest" if status == 400 else "InputTooLarge",
        message,
        code="invalid-request" if status == 400 else "input-too-large",
        field=field,
        instance=request.url.path,
    )
    response.headers.update(_headers(request))
    return response


async def _search(request: Request, kind: SearchKind) -> Response:
    try:
        body = await request.body()
        if len(body) > MAX_SEARCH_BYTES:
            raise BadRequest(f"the request body is larger than {MAX_SEARCH_BYTES} bytes", 413)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from exc
        parsed = parse_search(_object(document, "the request body"), kind)
        service: SearchService = request.app.state.services.search
        answer = service.search(parsed)
    except BadRequest as error:
        return _refusal(request, error.message, error.status, None)
    except InvalidInput as error:  # a page token that is not ours, or not for this query
        return _refusal(request, error.message, 400, error.field)
    return Response(orjson.dumps(answer.document()), media_type=JSON, headers=_headers(request))


@router.post("/access/v1/search/subject", summary="AuthZEN Subject Search (who may?)")
async def search_subject(request: Request) -> Response:
    """The agents (``subject.type`` ``agent``) or people allowed the action on the resource."""
    return await _search(request, SearchKind.SUBJECT)


@router.post("/access/v1/search/resource", summary="AuthZEN Resource Search (on what?)")
async def search_resource(request: Request) -> Response:
    """The resources of ``resource.type`` the subject is allowed the action on."""
    return await _search(request, SearchKind.RESOURCE)


@router.post("/access/v1/search/action", summary="AuthZEN Action Search (which actions?)")
async def search_action(request: Request) -> Response:
    """The actions the subject is allowed on the resource."""
    return await _search(request, SearchKind.ACTION)
