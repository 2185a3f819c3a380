"""``charter ssf`` (Shared Signals streams, the SET push) and ``charter siem export``.

* ``charter ssf streams list|create|delete|status`` — the receivers' streams;
* ``charter ssf push`` — send what push streams are owed, once (``charter serve``
  does it continuously);
* ``charter siem export --to FILE|URL`` — decisions and findings since the last
  export, as OCSF events (JSON lines, or JSON arrays POSTed).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from charter.cli.conventions import CharterTyper
from charter.cli.runtime import actor, cli_errors, console, emit_json, get_services
from charter.cli.tables import listing
from charter.domain import ssf
from charter.services.siem import sink_for

ssf_app = CharterTyper(help="Shared Signals (SSF 1.0): streams of CAEP events to receivers.")
streams_app = CharterTyper(help="The receivers' streams: list, create, delete, pause.")
siem_app = CharterTyper(help="Decisions and findings to a SIEM as OCSF events.")


def _row(config: dict[str, Any], counts: dict[str, int]) -> dict[str, Any]:
    return {
        "stream_id": config["stream_id"],
        "aud": config["aud"],
        "method": "push" if config["delivery"]["method"] == ssf.PUSH else "poll",
        "endpoint_url": config["delivery"]["endpoint_url"],
        "status": config["status"],
        "events_delivered": config["events_delivered"],
        "sets": counts,
    }


@streams_app.command("list")
def streams_list(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The streams, with how many SETs each has pending, delivered, acknowledged or failed.

    Example: charter ssf streams list --json
    """
    with cli_errors():
        services = get_services()
        issuer = services.ssf.issuer()
        counts = services.ssf.outbox.counts()
        rows = [
            _row(s.configuration(issuer), counts.get(s.id, {})) for s in services.ssf.streams.list()
        ]
    if json_out:
        emit_json(rows)
        return
    table = listing("stream", "aud", "method", "status", "SETs", title="SSF streams")
    for r in rows:
        sets = " ".join(f"{k}={v}" for k, v in sorted(r["sets"].items())) or "-"
        table.add_row(r["stream_id"], r["aud"], r["method"], r["status"], sets)
    console.print(table)


@streams_app.command("create")
def streams_create(
    aud: Annotated[str, typer.Option(help="the receiver, as it wants 'aud'")],
    push: Annotated[
        str | None, typer.Option(help="push SETs to this URL (RFC 8935); default: poll")
    ] = None,
    authorization: Annotated[
        str | None, typer.Option(help="the Authorization header to push with")
    ] = None,
    description: Annotated[str, typer.Option(help="what the stream is for")] = "",
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a stream for a receiver; prints its bearer token once.

    Example: charter ssf streams create --aud https://siem.acme.example --push https://siem.acme.example/ssf
    """
    document: dict[str, Any] = {"aud": aud, "description": description}
    if push is not None:
        document["delivery"] = {
            "method": ssf.PUSH,
            "endpoint_url": push,
            "authorization_header": authorization,
        }
    with cli_errors():
        services = get_services()
        created = services.ssf.streams.create(ssf.parse_stream_request(document), actor=actor())
        config = created.stream.configuration(services.ssf.issuer())
    if json_out:
        emit_json({**config, "bearer_token": created.token})
        return
    console.print(f"stream {created.stream.id} for {aud} ({config['delivery']['endpoint_url']})")
    console.print(f"bearer token (shown once): {created.token}")


@streams_app.command("delete")
def streams_delete(stream_id: Annotated[str, typer.Argument(help="the stream")]) -> None:
    """Delete a stream and every SET it still holds.

    Example: charter ssf streams delete 3f2a…
    """
    with cli_errors():
        get_services().ssf.streams.delete(stream_id, actor=actor())
    console.print(f"stream {stream_id} deleted")


@streams_app.command("status")
def streams_status(
    stream_id: Annotated[str, typer.Argument(help="the stream")],
    status: Annotated[str, typer.Argument(help="enabled, paused or disabled")],
    reason: Annotated[str | None, typer.Option(help="why")] = None,
) -> None:
    """Enable, pause (SETs are kept) or disable (SETs are dropped) a stream.

    Example: charter ssf streams status 3f2a… paused --reason "receiver maintenance"
    """
    with cli_errors():
        stream = get_services().ssf.streams.set_status(stream_id, status, reason, actor=actor())
    console.print(f"stream {stream.id} is {stream.status}")


@ssf_app.command("push")
def push(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Send the SETs push streams are owed, once (charter serve does it continuously), and
    forget those done more than a week ago.

    Example: charter ssf push --json
    """
    with cli_errors():
        outbox = get_services().ssf.outbox
        counts = {**outbox.push_pass(), "pruned": outbox.prune()}
    if json_out:
        emit_json(counts)
        return
    console.print(" ".join(f"{k}={v}" for k, v in counts.items()))


@siem_app.command("export")
def siem_export(
    to: Annotated[str, typer.Option(help="a file (JSON lines, appended) or an http(s) URL")],
    authorization: Annotated[
        str | None, typer.Option(help="the Authorization header for a URL")
    ] = None,
    batch: Annotated[int, typer.Option(help="events per write", min=1, max=10000)] = 500,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Decisions (OCSF Authorize Session) and findings (IAM Analysis Finding) since the last
    export.

    Example: charter siem export --to /var/log/charter/ocsf.jsonl
    """
    with cli_errors():
        done = get_services().siem.export(sink_for(to, authorization), batch=batch)
    if json_out:
        emit_json({"decisions": done.decisions, "findings": done.findings})
        return
    console.print(f"exported {done.decisions} decisions and {done.findings} findings to {to}")


def register(app: typer.Typer) -> None:
    ssf_app.add_typer(streams_app, name="streams")
    app.add_typer(ssf_app, name="ssf")
    app.add_typer(siem_app, name="siem")
