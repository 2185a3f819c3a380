"""``charter users …``: who may sign in to the console and the management API."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from charter.cli.conventions import CharterTyper
from charter.cli.runtime import actor, cli_errors, console, emit_json, get_services
from charter.cli.tables import listing
from charter.errors import InvalidInput
from charter.services.auth import MIN_PASSWORD_LENGTH, User, parse_role

app = CharterTyper(help="Console users: admins, owners and auditors.", no_args_is_help=True)

_ROLE_HELP = "admin (everything) | owner (their own agents and reviews) | auditor (read-only)"


def _user_json(user: User) -> dict[str, object]:
    return {
        "email": user.email,
        "name": user.name,
        "role": user.role.value,
        "sign_in": "password" if user.has_password else "oidc",
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
        "last_sign_in_at": user.last_sign_in_at.isoformat() if user.last_sign_in_at else None,
    }


def _ask_password() -> str:
    if not sys.stdin.isatty():  # piped: the password (and its confirmation) are lines of stdin
        lines = [sys.stdin.readline().rstrip("\n") for _ in range(2)]
        if not lines[0]:
            raise InvalidInput("none given: pass --password or pipe it on stdin", field="password")
        if lines[1] and lines[1] != lines[0]:
            raise InvalidInput("the two passwords on stdin differ", field="password")
        return lines[0]
    return str(
        typer.prompt(
            f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
            hide_input=True,
            confirmation_prompt=True,
        )
    )


@app.command("add")
def add_user(
    email: Annotated[str, typer.Argument(help="the person's e-mail (their sign-in name)")],
    role: Annotated[str, typer.Option(help=_ROLE_HELP)],
    password: Annotated[
        str | None, typer.Option(help="the password; prompted for when left out")
    ] = None,
    name: Annotated[str, typer.Option(help="display name")] = "",
    oidc: Annotated[
        bool, typer.Option("--oidc", help="no password: sign in only through OpenID Connect")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add a console user (passwords are stored as argon2id hashes).

    Example: charter users add ada.osei@acme.example --role admin
    """
    with cli_errors():
        parsed = parse_role(role)
        if oidc and password is not None:
            raise typer.BadParameter("give either --password or --oidc, not both")
        secret = None if oidc else (password if password is not None else _ask_password())
        user = get_services().auth.add_user(
            email, role=parsed, password=secret, name=name, actor=actor()
        )
    if json_out:
        emit_json(_user_json(user))
        return
    how = "with a password" if user.has_password else "through OpenID Connect only"
    console.print(f"added {user.email} as {user.role.value}; they sign in {how}")


@app.command("list")
def list_users(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List console users and their roles.

    Example: charter users list
    """
    with cli_errors():
        users = get_services().auth.list_users()
    if json_out:
        emit_json([_user_json(u) for u in users])
        return
    table = listing(
        "email", "role", "sign-in", "state", "last sign-in", title=f"Console users ({len(users)})"
    )
    for user in users:
        table.add_row(
            user.email,
            user.role.value,
            "password" if user.has_password else "oidc",
            "disabled" if user.disabled else "active",
            user.last_sign_in_at.strftime("%Y-%m-%d %H:%M") if user.last_sign_in_at else "never",
        )
    console.print(table)


@app.command("set-role")
def set_role(
    email: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Argument(help=_ROLE_HELP)],
) -> None:
    """Change a user's role (takes effect on their next request).

    Example: charter users set-role maria.garcia@acme.example owner
    """
    with cli_errors():
        user = get_services().auth.set_role(email, parse_role(role), actor=actor())
    console.print(f"{user.email} is now {user.role.value}")


@app.command("passwd")
def set_password(
    email: Annotated[str, typer.Argument()],
    password: Annotated[str | None, typer.Option(help="prompted for when left out")] = None,
) -> None:
    """Set a user's password; their open sessions end.

    Example: charter users passwd ada.osei@acme.example
    """
    with cli_errors():
        get_services().auth.set_password(email, password or _ask_password(), actor=actor())
    console.print(f"password changed for {email}; their sessions were ended")


@app.command("disable")
def disable_user(email: Annotated[str, typer.Argument()]) -> None:
    """Disable a user: no sign-in, sessions end, their API tokens stop working.

    Example: charter users disable tom.keller@acme.example
    """
    with cli_errors():
        get_services().auth.disable_user(email, actor=actor())
    console.print(f"{email} is disabled")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="users")
