"""``charter tokens …`` (personal API tokens) and ``charter pep …`` (PEP keys).

Secrets are printed exactly once, when created; the store keeps a digest.
The token group is also reachable as ``charter api-tokens`` — the name it
falls back to when another capability has claimed ``tokens``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from charter.cli.conventions import CharterTyper
from charter.cli.runtime import actor, cli_errors, console, emit_json, get_services
from charter.cli.tables import listing
from charter.domain.durations import parse_duration
from charter.errors import InvalidInput
from charter.services.access_keys import ApiToken, PepKey

tokens_app = CharterTyper(
    help="Personal API tokens for the management API (/v1).", no_args_is_help=True
)
pep_app = CharterTyper(
    help="PEP keys: bearer credentials for policy enforcement points calling AuthZEN.",
    no_args_is_help=True,
)


def _when(moment: dt.datetime | None, *, never: str = "never") -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else never


def _token_json(token: ApiToken) -> dict[str, object]:
    return {
        "id": token.id,
        "user": token.email,
        "name": token.name,
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked": token.revoked,
    }


def _pep_json(key: PepKey) -> dict[str, object]:
    return {
        "name": key.name,
        "created_at": key.created_at.isoformat(),
        "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
        "revoked": key.revoked,
    }


def _lifetime(expires: str) -> dt.timedelta | None:
    if expires.strip().lower() == "never":
        return None
    try:
        return dt.timedelta(seconds=parse_duration(expires))
    except ValueError as exc:
        raise InvalidInput(str(exc), field="expires") from exc


@tokens_app.command("create")
def create_token(
    user: Annotated[str, typer.Option(help="the console user the token acts as")],
    name: Annotated[str, typer.Option(help="what the token is for, e.g. 'ci'")] = "cli",
    expires: Annotated[str, typer.Option(help="lifetime like 30d or 12h, or 'never'")] = "90d",
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a personal API token (shown once) with the user's role.

    Example: charter api-tokens create --user ada.osei@acme.example --name ci --expires 30d
    """
    with cli_errors():
        issued = get_services().auth.keys.create_api_token(
            user, name=name, expires_in=_lifetime(expires), actor=actor()
        )
    if json_out:
        emit_json({**_token_json(issued.token), "token": issued.secret})
        return
    console.print(
        f"API token {issued.token.id} for {issued.token.email} "
        f"(expires {_when(issued.token.expires_at)}). Shown once:"
    )
    typer.echo(issued.secret)
    console.print(
        'Use it as:  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/v1/agents'
    )


@tokens_app.command("list")
def list_tokens(
    user: Annotated[str | None, typer.Option(help="only this user's tokens")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List personal API tokens (never their secrets).

    Example: charter api-tokens list --user ada.osei@acme.example
    """
    with cli_errors():
        tokens = get_services().auth.keys.list_api_tokens(user)
    if json_out:
        emit_json([_token_json(t) for t in tokens])
        return
    table = listing(
        "id", "user", "name", "expires", "last used", "state", title=f"API tokens ({len(tokens)})"
    )
    for token in tokens:
        table.add_row(
            token.id,
            token.email,
            token.name,
            _when(token.expires_at),
            _when(token.last_used_at),
            "revoked" if token.revoked else "active",
        )
    console.print(table)


@tokens_app.command("revoke")
def revoke_token(token_id: Annotated[str, typer.Argument(help="the token's id (tok_…)")]) -> None:
    """Revoke a personal API token (running servers notice within a second).

    Example: charter api-tokens revoke tok_5e0c1d2a9f3b7c61
    """
    with cli_errors():
        get_services().auth.keys.revoke_api_token(token_id, actor=actor())
    console.print(f"revoked {token_id}")


@pep_app.command("add")
def add_pep(
    name: Annotated[str, typer.Argument(help="which enforcement point, e.g. 'mcp-gateway'")],
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a PEP key (shown once) for calling /access/v1/* (AuthZEN).

    Example: charter pep add mcp-gateway
    """
    with cli_errors():
        issued = get_services().auth.keys.add_pep_key(name, actor=actor())
    if json_out:
        emit_json({**_pep_json(issued.key), "key": issued.secret})
        return
    console.print(f"PEP key {issued.key.name!r} (stored hashed). Shown once:")
    typer.echo(issued.secret)
    console.print(
        'Use it as:  curl -H "Authorization: Bearer $KEY" -H "content-type: application/json" '
        "http://127.0.0.1:8000/access/v1/evaluation -d '{...}'"
    )


@pep_app.command("list")
def list_pep(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List PEP keys (never their secrets).

    Example: charter pep list
    """
    with cli_errors():
        keys = get_services().auth.keys.list_pep_keys()
    if json_out:
        emit_json([_pep_json(k) for k in keys])
        return
    table = listing("name", "created", "last used", "state", title=f"PEP keys ({len(keys)})")
    for key in keys:
        table.add_row(
            key.name,
            _when(key.created_at),
            _when(key.last_used_at),
            "revoked" if key.revoked else "active",
        )
    console.print(table)


@pep_app.command("revoke")
def revoke_pep(name: Annotated[str, typer.Argument()]) -> None:
    """Revoke a PEP key (running servers notice within a second).

    Example: charter pep revoke mcp-gateway
    """
    with cli_errors():
        get_services().auth.keys.revoke_pep_key(name, actor=actor())
    console.print(f"revoked PEP key {name!r}")


def register(root: typer.Typer) -> None:
    """Mount ``pep``, ``api-tokens`` and — unless another capability owns it — ``tokens``."""
    taken = {group.name for group in root.registered_groups}
    taken |= {command.name for command in root.registered_commands}
    root.add_typer(pep_app, name="pep")
    root.add_typer(tokens_app, name="api-tokens")
    if "tokens" not in taken:
        root.add_typer(tokens_app, name="tokens")
