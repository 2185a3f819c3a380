"""OpenID AuthZEN Authorization API 1.0: Charter as a policy decision point over HTTP.

Endpoints (spec sections in brackets):

* ``POST /access/v1/evaluation`` — one decision [§6, Access Evaluation API];
* ``POST /access/v1/evaluations`` — many [§7, Access Evaluations API]: top-level
  ``subject``/``action``/``resource``/``context`` are defaults each item may
  replace; ``options.evaluations_semantic`` is ``execute_all`` (default),
  ``deny_on_first_deny`` or ``permit_on_first_permit`` (the response then ends
  at the deciding item); an item that cannot be evaluated gets
  ``{"decision": false, "context": {"error": {"status", "message"}}}``;
* ``GET /.well-known/authzen-configuration`` — PDP metadata [§9], naming every
  endpoint, the Search API's too (:mod:`charter.api.authzen_search`).

Mapping to Charter: subject ``{"type": "agent", "id": <agent name>}``, with the
delegating person in ``subject.properties.on_behalf_of`` (an e-mail, or an
object with an ``id``); or a person, ``{"type": "user" | "identity" | <a type the
org policy maps to person>, "id": <e-mail or external id>}``, decided by their
roles (:mod:`charter.domain.subjects`); an unknown type or subject is a deny with
the reason. Action ``{"name": …}``; resource ``{"type": <system>, "id": <path>}``
is the Charter resource ``<system>:<path>`` (``id`` is optional: ``<system>:``).
``context`` is the Charter context; conditions also see ``subject``, ``action``
and ``resource`` (their ``properties``, both at the top and under
``properties``, with ``subject.id``/``type``, ``action.name``,
``resource.type``/``id``) and the request's own context as ``context.*``,
unless the context has those keys. The context, all that included, is held to
64 KiB and to :data:`~charter.domain.nesting.MAX_DEPTH` levels.

A deny is HTTP 200 with ``"decision": false`` and the reasons in ``context``
(reason objects per §6.2: ``id``, ``reason_admin``; plus our stable ``code`` and
the ``rule``). Malformed requests are 400 (413 when too large), never an allow.
``X-Request-ID`` is echoed [§10.1]. The ``/access`` paths need a PEP key
(``http/security.py``); the metadata is public.

Every decision answered is recorded: the response waits until the request's
Activity rows are committed (the recorder's group commit, one transaction for
all requests waiting at that moment), so a decision a PEP has received is in the
store even if the server is killed right after. When they cannot be committed
within ``CHARTER_RECORD_TIMEOUT`` seconds (default 10) the answer is 503, never
a decision.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from charter.domain.decision import Decision, ReasonCode
from charter.domain.nesting import MAX_DEPTH, nests_deeper
from charter.http.problems import problem
from charter.http.request_id import echoable_request_id
from charter.services.activity import NotRecorded
from charter.services.decisions import DecisionService

logger = logging.getLogger("charter.authzen")

router = APIRouter(tags=["authzen"])

MAX_EVALUATION_BYTES = 1024 * 1024
MAX_EVALUATIONS = 10_000
MAX_CONTEXT_BYTES = 64 * 1024
SEMANTICS = ("execute_all", "deny_on_first_deny", "permit_on_first_permit")
SOURCE = "authzen"
JSON = "application/json"


@functools.cache
def _record_timeout() -> float:
    """Read once per process: an environment lookup per decision is a measurable cost."""
    try:
        return max(0.01, float(os.environ.get("CHARTER_RECORD_TIMEOUT", "10")))
    except ValueError:
        return 10.0


class BadRequest(Exception):
    """An evaluation that cannot be decided: becomes a 400/413 (or a per-item error)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


Parsed = tuple[str, str, str, str, dict[str, Any], str | None]


def _string(value: Any, where: str, limit: int) -> str:
    if type(value) is not str or not value:
        raise BadRequest(f"{where} must be a non-empty string")
    if len(value) > limit:
        raise BadRequest(f"{where} is longer than {limit} characters", 413)
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise BadRequest(f"{where} must be a JSON object")
    return value


def _entity(
    given: dict[str, Any], key: str, name: str, value: str, more: dict[str, str]
) -> dict[str, Any]:
    """What conditions see of a subject, action or resource: its properties at the top
    (``resource.ownerID``, as before) and under ``properties``, with its identifiers."""
    properties = given.get("properties")
    if properties is None:
        properties = {}
    elif type(properties) is not dict:
        raise BadRequest(f"{key}.properties must be a JSON object")
    return {**properties, "properties": properties, name: value, **more}


def parse_tuple(subject: Any, action: Any, resource: Any, context: Any) -> Parsed:
    """The AuthZEN 4-tuple as a Charter request, or :class:`BadRequest` naming the field.

    Any subject type is accepted here: what it names (an agent, a person, nothing
    Charter knows) is for the decision point to say, as a deny with the reason.
    """
    if type(subject) is not dict or type(action) is not dict or type(resource) is not dict:
        for name, value in (("subject", subject), ("action", action), ("resource", resource)):
            if value is None:
                raise BadRequest(f"{name} is required")
            _object(value, name)
    subject_type = subject.get("type")
    if type(subject_type) is not str or not 0 < len(subject_type) <= 64:
        subject_type = _string(subject_type, "subject.type", 64)
    subject_id = subject.get("id")
    if type(subject_id) is not str or not 0 < len(subject_id) <= 320:
        subject_id = _string(subject_id, "subject.id", 320)
    name = action.get("name")
    if type(name) is not str or not 0 < len(name) <= 256:
        name = _string(name, "action.name", 256)
    system = resource.get("type")
    if type(system) is not str or not 0 < len(system) <= 256:
        system = _string(system, "resource.type", 256)
    path = resource.get("id", "")  # optional: a resource may be named by its type alone
    if type(path) is not str:
        raise BadRequest("resource.id must be a string when given")
    if len(path) > 1792:
        raise BadRequest("resource.id is longer than 1792 characters", 413)
    if context is None:
        context = {}
    elif type(context) is not dict:
        raise BadRequest("context must be a JSON object")
    on_behalf_of: str | None = None
    properties = subject.get("properties")
    if properties is not None:
        properties = _object(properties, "subject.properties")
        delegator = properties.get("on_behalf_of")
        if type(delegator) is dict:
            delegator = delegator.get("id")
        if delegator is not None:
            on_behalf_of = _string(delegator, "subject.properties.on_behalf_of", 320)
    entities = {
        "subject": _entity(subject, "subject", "id", subject_id, {"type": subject_type}),
        "action": _entity(action, "action", "name", name, {}),
        "resource": _entity(
            resource, "resource", "type", system, {"id": path} if "id" in resource else {}
        ),
    }
    extra = {key: value for key, value in entities.items() if key not in context}
    if "context" not in context:
        extra["context"] = context
    context = {**context, **extra}
    _check_context(context)
    return subject_type, subject_id, name, f"{system}:{path}", context, on_behalf_of


def _check_context(context: dict[str, Any]) -> None:
    """Bounded in size and depth: what conditions read, audit records and caches hold."""
    try:
        dumped = orjson.dumps(context)
    except orjson.JSONEncodeError as exc:  # nests past orjson's own 254 levels
        raise BadRequest(f"the context nests deeper than {MAX_DEPTH} levels") from exc
    if len(dumped) > MAX_CONTEXT_BYTES:
        raise BadRequest(f"the context is larger than {MAX_CONTEXT_BYTES} bytes", 413)
    if nests_deeper(dumped, MAX_DEPTH):
        raise BadRequest(f"the context nests deeper than {MAX_DEPTH} levels")


def decision_context(decision: Decision) -> dict[str, Any]:
    """The response ``context``: the allowing rule, or every reason as AuthZEN reason objects."""
    if decision.allowed:
        out: dict[str, Any] = {"rule": decision.rule}
        if decision.role:
            out["role"] = decision.role
        return out
    out = {
        "reason_codes": decision.codes,
        "reasons": [
            {
                "id": str(index),
                "code": reason.id,
                **({"rule": reason.rule} if reason.rule else {}),
                **({"approval": reason.approval} if reason.approval else {}),
                "reason_admin": {"en": reason.message},
            }
            for index, reason in enumerate(decision.reasons)
        ],
    }
    waiting = next((r for r in decision.reasons if r.approval), None)
    if waiting is not None:  # the access request and approval profile's requestable denial
        status = "pending" if waiting.code == ReasonCode.APPROVAL_REQUIRED else "denied"
        out["access_request"] = {"id": waiting.approval, "status": status, "rule": waiting.rule}
    return out


_ALLOW_BYTES: dict[int, tuple[Decision, bytes]] = {}


def decision_bytes(decision: Decision) -> bytes:
    """``{"decision": …, "context": …}`` as JSON; allows are shared objects, so cached."""
    if decision.allowed:
        hit = _ALLOW_BYTES.get(id(decision))
        if hit is not None and hit[0] is decision:
            return hit[1]
    body = orjson.dumps({"decision": decision.allowed, "context": decision_context(decision)})
    if decision.allowed:
        if len(_ALLOW_BYTES) > 65536:
            _ALLOW_BYTES.clear()
        _ALLOW_BYTES[id(decision)] = (decision, body)
    return body


def _error_bytes(error: BadRequest) -> bytes:
    return orjson.dumps(
        {
            "decision": False,
            "context": {"error": {"status": error.status, "message": error.message}},
        }
    )


def _headers(request: Request) -> dict[str, str]:
    request_id = echoable_request_id(request.headers.get("x-request-id"))
    return {"X-Request-ID": request_id} if request_id else {}


def _service(request: Request) -> DecisionService:
    app = request.app
    service: DecisionService = app.state.services.decisions
    if not getattr(app.state, "authzen_hook", False):
        app.state.authzen_hook = True
        app.state.shutdown_hooks.append(service.close)  # flush activity on clean shutdown
    return service


def _bad(request: Request, error: BadRequest) -> Response:
    response = problem(
        error.status,
        "InvalidRequest" if error.status == 400 else "InputTooLarge",
        error.message,
        code="invalid-request" if error.status == 400 else "input-too-large",
        instance=request.url.path,
    )
    response.headers.update(_headers(request))
    return response


async def _answer(
    request: Request, service: DecisionService, body: bytes, shed_before: int
) -> Response:
    """``body``, once the decisions it holds are committed as Activity; else a 503.

    ``shed_before`` is the recorder's shed count read *before* deciding: an allow this
    request's own ``record`` shed (the writer far behind) must withhold the answer too.
    """
    try:
        await service.recorder.committed(_record_timeout(), shed_before=shed_before)
    except NotRecorded as error:
        logger.error("AuthZEN answer withheld: %s", error)
        response = problem(
            503, "NotRecorded", str(error), code="not-recorded", instance=request.url.path
        )
        response.headers.update(_headers(request))
        return response
    return Response(body, media_type=JSON, headers=_headers(request))


async def _document(request: Request, limit: int) -> dict[str, Any]:
    body = await request.body()
    if len(body) > limit:
        raise BadRequest(f"the request body is larger than {limit} bytes", 413)
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:  # includes nesting past orjson's 1,024 levels
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    return _object(document, "the request body")


@router.post(
    "/access/v1/evaluation",
    summary="AuthZEN Access Evaluation (one decision)",
    description="May the subject (an agent or a person) do the action on the resource? "
    "Deny is 200 with ``decision: false``.",
)
async def evaluation(request: Request) -> Response:
    """One AuthZEN evaluation; its description is the route's (it reads as one line)."""
    try:
        document = await _document(request, MAX_EVALUATION_BYTES)
        parsed = parse_tuple(
            document.get("subject"),
            document.get("action"),
            document.get("resource"),
            document.get("context"),
        )
    except BadRequest as error:
        return _bad(request, error)
    service = _service(request)
    shed = service.recorder.shed_count
    decision = service.subject_decider(SOURCE)(*parsed)
    if decision.needs_approval and parsed[0] == "agent":  # re-evaluation after approval
        _, agent, action, resource, context, on_behalf_of = parsed
        approvals = request.app.state.services.call_approvals
        decision = await run_in_threadpool(
            approvals.settle, decision, agent, action, resource, context, on_behalf_of
        )
    return await _answer(request, service, decision_bytes(decision), shed)


@router.post("/access/v1/evaluations", summary="AuthZEN Access Evaluations (boxcarred)")
async def evaluations(request: Request) -> Response:
    """Many decisions in one request, with defaults and one of the three evaluation semantics."""
    try:
        document = await _document(request, 16 * 1024 * 1024)
        items = document.get("evaluations")
        if items is not None and type(items) is not list:
            raise BadRequest("evaluations must be an array")
        if items is not None and len(items) > MAX_EVALUATIONS:
            raise BadRequest(f"at most {MAX_EVALUATIONS} evaluations per request", 413)
        options = _object(document.get("options") or {}, "options")
        semantic = options.get("evaluations_semantic", "execute_all")
        if semantic not in SEMANTICS:
            raise BadRequest(f"options.evaluations_semantic must be one of {', '.join(SEMANTICS)}")
        defaults = (
            document.get("subject"),
            document.get("action"),
            document.get("resource"),
            document.get("context"),
        )
        single = parse_tuple(*defaults) if not items else None
    except BadRequest as error:
        return _bad(request, error)
    service = _service(request)
    shed = service.recorder.shed_count
    decide = service.subject_decider(SOURCE)
    if single is not None:  # no evaluations array: behaves as one evaluation (§7.1)
        return await _answer(request, service, decision_bytes(decide(*single)), shed)
    stop_on = {"deny_on_first_deny": False, "permit_on_first_permit": True}.get(semantic)
    parts: list[bytes] = []
    for index, item in enumerate(items or ()):
        try:
            if type(item) is not dict:
                raise BadRequest(f"evaluations[{index}] must be a JSON object")
            parsed = parse_tuple(
                item.get("subject", defaults[0]),
                item.get("action", defaults[1]),
                item.get("resource", defaults[2]),
                item.get("context", defaults[3]),
            )
        except BadRequest as error:
            parts.append(_error_bytes(error))
            if stop_on is False:
                break
            continue
        decision = decide(*parsed)
        parts.append(decision_bytes(decision))
        if stop_on is not None and decision.allowed is stop_on:
            break
    batch = b'{"evaluations":[' + b",".join(parts) + b"]}"
    return await _answer(request, service, batch, shed)


@router.get("/.well-known/authzen-configuration", summary="AuthZEN PDP metadata")
async def configuration(request: Request) -> Response:
    """Where every endpoint is (AuthZEN §9). ``CHARTER_PUBLIC_URL`` names this PDP."""
    base = os.environ.get("CHARTER_PUBLIC_URL") or str(request.base_url)
    base = base.rstrip("/")
    body = {
        "policy_decision_point": base,
        "access_evaluation_endpoint": f"{base}/access/v1/evaluation",
        "access_evaluations_endpoint": f"{base}/access/v1/evaluations",
        "search_subject_endpoint": f"{base}/access/v1/search/subject",
        "search_resource_endpoint": f"{base}/access/v1/search/resource",
        "search_action_endpoint": f"{base}/access/v1/search/action",
    }
    return Response(orjson.dumps(body), media_type=JSON, headers={"Cache-Control": "max-age=300"})
