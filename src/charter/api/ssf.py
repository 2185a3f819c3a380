"""Shared Signals over HTTP: SSF 1.0 metadata, stream management, poll, and the IdP's push.

* ``GET /.well-known/ssf-configuration`` — the transmitter's metadata (open).
* ``/v1/ssf/streams`` (``POST`` create, ``GET`` read or list, ``PATCH``/``PUT`` update or
  replace, ``DELETE``), ``/v1/ssf/status``, ``/v1/ssf/subjects:add``,
  ``/v1/ssf/subjects:remove``, ``/v1/ssf/verify`` — admins (auditors read).
* ``POST /ssf/poll/{stream_id}`` (RFC 8936) — the receiver, with the bearer token its
  stream was created with.
* ``POST /ssf/events`` (RFC 8935) — SETs pushed by a trusted IdP; the signature is the
  authentication. ``202`` accepted, ``400`` ``{"err", "description"}`` refused.
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from charter.domain import ssf
from charter.domain.ssf_inbound import SetRefused
from charter.errors import InvalidInput
from charter.http.deps import actor_dep, services_dep
from charter.services.context import Services
from charter.services.ssf.streams import Stream

router = APIRouter(tags=["shared signals"])
ServicesDep = Annotated[Services, Depends(services_dep)]
ActorDep = Annotated[str, Depends(actor_dep)]
JsonBody = Annotated[dict[str, Any], Body()]
MAX_SET_BYTES = 64 * 1024


@router.get("/.well-known/ssf-configuration", tags=["well-known"])
def ssf_configuration(services: ServicesDep) -> dict[str, Any]:
    """The SSF 1.0 transmitter metadata: endpoints, delivery methods, the JWKS."""
    return services.ssf.configuration()


def _config(services: Services, stream: Stream) -> dict[str, Any]:
    return stream.configuration(services.ssf.issuer())


def _stream_id(body: dict[str, Any]) -> str:
    value = body.get("stream_id")
    if not isinstance(value, str) or not value:
        raise InvalidInput("stream_id is required", field="stream_id")
    return value


@router.post("/v1/ssf/streams", status_code=201)
def create_stream(body: JsonBody, services: ServicesDep, actor: ActorDep) -> dict[str, Any]:
    """Create a stream; the answer holds ``bearer_token`` for the receiver (shown once)."""
    created = services.ssf.streams.create(ssf.parse_stream_request(body), actor=actor)
    return {**_config(services, created.stream), "bearer_token": created.token}


@router.get("/v1/ssf/streams", response_model=None)
def read_streams(
    services: ServicesDep, stream_id: Annotated[str | None, Query(max_length=40)] = None
) -> dict[str, Any] | list[dict[str, Any]]:
    """One stream's configuration (``stream_id``), or every stream."""
    if stream_id is not None:
        return _config(services, services.ssf.streams.get(stream_id))
    return [_config(services, s) for s in services.ssf.streams.list()]


def _update(body: dict[str, Any], services: Services, actor: str, *, merge: bool) -> dict[str, Any]:
    stream_id = _stream_id(body)
    if merge:  # PATCH: what is not sent stays (the push Authorization header included)
        stream = services.ssf.streams.get(stream_id)
        stored: dict[str, Any] = {
            "aud": stream.audience,
            "events_requested": list(stream.events_requested),
            "description": stream.description,
            "delivery": {
                "method": stream.method,
                "endpoint_url": stream.endpoint_url,
                "authorization_header": stream.authorization_header,
            },
        }
        body = {**stored, **body}
    stream = services.ssf.streams.replace(stream_id, ssf.parse_stream_request(body), actor=actor)
    return _config(services, stream)


@router.patch("/v1/ssf/streams")
def update_stream(body: JsonBody, services: ServicesDep, actor: ActorDep) -> dict[str, Any]:
    return _update(body, services, actor, merge=True)


@router.put("/v1/ssf/streams")
def replace_stream(body: JsonBody, services: ServicesDep, actor: ActorDep) -> dict[str, Any]:
    return _update(body, services, actor, merge=False)


@router.delete("/v1/ssf/streams", status_code=204)
def delete_stream(
    services: ServicesDep, actor: ActorDep, stream_id: Annotated[str, Query(max_length=40)]
) -> Response:
    services.ssf.streams.delete(stream_id, actor=actor)
    return Response(status_code=204)


@router.get("/v1/ssf/status")
def read_status(
    services: ServicesDep, stream_id: Annotated[str, Query(max_length=40)]
) -> dict[str, Any]:
    stream = services.ssf.streams.get(stream_id)
    out: dict[str, Any] = {"stream_id": stream.id, "status": stream.status}
    if stream.reason:
        out["reason"] = stream.reason
    return out


@router.post("/v1/ssf/status")
def update_status(body: JsonBody, services: ServicesDep, actor: ActorDep) -> dict[str, Any]:
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise InvalidInput("reason must be a string", field="reason")
    stream = services.ssf.streams.set_status(
        _stream_id(body), str(body.get("status")), reason, actor=actor
    )
    return {"stream_id": stream.id, "status": stream.status, "reason": stream.reason}


@router.post("/v1/ssf/subjects:add", status_code=200)
def add_subject(body: JsonBody, services: ServicesDep, actor: ActorDep) -> Response:
    services.ssf.streams.set_subject(
        _stream_id(body), body.get("subject"), included=True, actor=actor
    )
    return Response(status_code=200)


@router.post("/v1/ssf/subjects:remove", status_code=204)
def remove_subject(body: JsonBody, services: ServicesDep, actor: ActorDep) -> Response:
    services.ssf.streams.set_subject(
        _stream_id(body), body.get("subject"), included=False, actor=actor
    )
    return Response(status_code=204)


@router.post("/v1/ssf/verify", status_code=204)
def verify_stream(body: JsonBody, services: ServicesDep) -> Response:
    """Queue a verification event (with the receiver's ``state``) on the stream."""
    state = body.get("state")
    if state is not None and (not isinstance(state, str) or len(state) > 512):
        raise InvalidInput("state must be a string of at most 512 characters", field="state")
    services.ssf.outbox.verify(_stream_id(body), state)
    return Response(status_code=204)


def _bearer(request: Request) -> str:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@router.post(
    "/ssf/poll/{stream_id}",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def poll(stream_id: str, request: Request, services: ServicesDep) -> JSONResponse:
    """RFC 8936: acknowledge (``ack``), report (``setErrs``) and fetch (``maxEvents``) SETs."""
    stream = await run_in_threadpool(services.ssf.streams.by_token, _bearer(request))
    if stream is None or not hmac.compare_digest(stream.id, stream_id):
        return JSONResponse(
            {"err": "authentication_failed", "description": "a stream's bearer token is needed"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="ssf"'},
        )
    body = await request.body()
    try:
        document = json.loads(body) if body.strip() else {}
    except ValueError:
        raise InvalidInput("the poll request is not JSON", field="body") from None
    answer = await run_in_threadpool(services.ssf.outbox.poll, stream, ssf.parse_poll(document))
    return JSONResponse(answer)


@router.post(
    "/ssf/events",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/secevent+jwt": {"schema": {"type": "string"}}},
        }
    },
)
async def receive(request: Request, services: ServicesDep) -> Response:
    """RFC 8935: a SET pushed by a trusted IdP (account-disabled, session-revoked)."""
    body = await request.body()
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    refusal: tuple[str, str] | None = None
    if media != "application/secevent+jwt":
        refusal = ("invalid_request", "Content-Type must be application/secevent+jwt")
    elif len(body) > MAX_SET_BYTES:
        refusal = ("invalid_request", "the SET is too large")
    if refusal is None:
        try:
            await run_in_threadpool(services.ssf.receiver.receive, body.decode("ascii").strip())
            return Response(status_code=202)
        except UnicodeDecodeError:
            refusal = ("invalid_request", "the SET is not ASCII")
        except SetRefused as exc:
            refusal = (exc.err, exc.description)
    err, description = refusal
    return Response(
        json.dumps({"err": err, "description": description}),
        status_code=400,
        media_type="application/json",
    )
