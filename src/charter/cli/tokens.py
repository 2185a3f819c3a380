"""CLI for credentials: enrol agents' keys, rotate signing keys, inspect and revoke tokens.

* ``charter agent enroll NAME`` (``--public-key FILE``, ``--generate --out FILE``
  or ``--code``), ``charter agent keys NAME``, ``charter agent revoke-key``,
  ``charter agent revoke-tokens``;
* ``charter keys list|rotate`` — Charter's own signing keys;
* ``charter tokens introspect|revoke`` — for operators;
* ``charter idp trust|list|remove`` — identity providers for delegation.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from charter.cli import agent as agent_cli
from charter.cli.conventions import CharterTyper
from charter.cli.runtime import actor, cli_errors, console, emit_json, get_services, read_input_file
from charter.cli.tables import listing
from charter.domain.durations import parse_duration
from charter.domain.nesting import load_json
from charter.domain.tokens.jwk import Alg, generate_private_key, load_public_key, private_key_pem
from charter.errors import InvalidInput
from charter.services.tokens.enrolment import Enrolled
from charter.services.tokens.keys import DEFAULT_OVERLAP

keys_app = CharterTyper(help="Charter's own token signing keys: list and rotate.")
token_app = CharterTyper(help="Inspect and revoke access tokens (operators).")
idp_app = CharterTyper(help="Identity providers whose tokens people delegate with.")


def _seconds(text: str, field: str) -> int:
    if text.strip() in ("0", "0s"):
        return 0
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from exc


def _reserve(path: Path) -> int:
    """Create ``path`` empty with 0600 before anything is enrolled; never overwrite a key."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise InvalidInput(
            f"{path} exists; choose another file (keys are never overwritten)", field="out"
        ) from exc
    except OSError as exc:
        raise InvalidInput(f"cannot create {path}: {exc.strerror}", field="out") from exc


def _enrolled_json(done: Enrolled) -> dict[str, Any]:
    return {
        "client_id": done.key.agent,
        "kid": done.key.kid,
        "alg": done.key.alg,
        "jwk": done.key.public_jwk,
        "retiring": list(done.retiring),
        "retire_at": done.retire_at.isoformat() if done.retire_at else None,
    }


def enroll(
    name: Annotated[str, typer.Argument(help="the agent (its name is its client id)")],
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="PEM or JWK file with the agent's public key"),
    ] = None,
    generate: Annotated[
        bool, typer.Option("--generate", help="make a key pair here; needs --out")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="where --generate writes the private key (0600)")
    ] = None,
    alg: Annotated[Alg, typer.Option(help="key type for --generate: EdDSA or ES256")] = Alg.EDDSA,
    code: Annotated[
        bool, typer.Option("--code", help="issue a one-time enrolment code instead")
    ] = False,
    ttl: Annotated[str, typer.Option(help="how long the enrolment code lives")] = "10m",
    overlap: Annotated[
        str, typer.Option(help="how long the agent's current keys keep working (rotation)")
    ] = "1h",
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Register the key an agent authenticates with (only active agents enrol).

    Example: charter agent enroll support-summarizer --generate --out support-summarizer.pem
    Example: charter agent enroll support-summarizer --code --ttl 10m
    """
    with cli_errors():
        if sum((public_key is not None, generate, code)) != 1:
            raise InvalidInput(
                "give exactly one of --public-key FILE, --generate --out FILE, --code", field="mode"
            )
        tokens = get_services().tokens
        if code:
            issued = tokens.issue_enrolment_code(name, actor=actor(), ttl=_seconds(ttl, "ttl"))
            if json_out:
                emit_json(
                    {
                        "client_id": name,
                        "code": issued.code,
                        "expires_at": issued.expires_at.isoformat(),
                        "register_at": tokens.issuer + "/oauth/register",
                    }
                )
                return
            console.print(
                f"enrolment code for [bold]{name}[/] (single use, until "
                f"{issued.expires_at:%Y-%m-%d %H:%M:%S} UTC):"
            )
            typer.echo(issued.code)
            console.print(
                f"[dim]the agent registers its key with it: POST {tokens.issuer}"
                "/oauth/register, or AgentCredentials.enroll(code, base_url=…)[/]"
            )
            return
        span = _seconds(overlap, "overlap")
        if generate:
            if out is None:
                raise InvalidInput("--generate needs --out FILE for the private key", field="out")
            if alg not in (Alg.EDDSA, Alg.ES256):
                raise InvalidInput("agent keys are EdDSA or ES256", field="alg")
            private = generate_private_key(alg)
            descriptor = _reserve(out)
            try:
                done = tokens.enrol(name, private.public_key(), actor=actor(), overlap=span)
            except BaseException:
                os.close(descriptor)
                with contextlib.suppress(OSError):
                    out.unlink()
                raise
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(private_key_pem(private))
        else:
            assert public_key is not None
            key, _ = load_public_key(
                read_input_file(public_key, limit=64 * 1024, field="public_key")
            )
            done = tokens.enrol(name, key, actor=actor(), overlap=span)
    if json_out:
        emit_json({**_enrolled_json(done), "private_key_file": str(out) if generate else None})
        return
    console.print(f"enrolled [bold]{name}[/]: key {done.key.kid} ({done.key.alg})")
    if generate:
        console.print(f"private key written to {out} (mode 0600); keep it with the agent only")
    if done.retiring:
        console.print(
            f"earlier keys {', '.join(done.retiring)} keep working until "
            f"{done.retire_at:%Y-%m-%d %H:%M:%S} UTC"
        )


def list_keys(
    name: Annotated[str, typer.Argument(help="the agent")],
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The keys an agent has enrolled, with their state.

    Example: charter agent keys support-summarizer
    """
    services = get_services()
    with cli_errors():
        keys = services.tokens.agent_keys(name)
    now = services.clock.now()
    if json_out:
        emit_json(
            [
                {
                    "kid": k.kid,
                    "alg": k.alg,
                    "status": k.status(now),
                    "created_at": k.created_at.isoformat(),
                    "expires_at": k.expires_at.isoformat() if k.expires_at else None,
                    "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                }
                for k in keys
            ]
        )
        return
    table = listing("kid", "alg", "status", "created", "expires", title=f"keys of {name}")
    for k in keys:
        table.add_row(
            k.kid,
            k.alg,
            k.status(now),
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.expires_at:%Y-%m-%d %H:%M}" if k.expires_at else "",
        )
    console.print(table)


def revoke_key(
    name: Annotated[str, typer.Argument(help="the agent")],
    kid: Annotated[str, typer.Argument(help="the key id (see 'charter agent keys')")],
    reason: Annotated[str, typer.Option(help="why (recorded in the audit log)")],
) -> None:
    """Stop accepting one key at once; every token the agent holds becomes inactive too.

    Example: charter agent revoke-key support-summarizer Xo2kP9f0dW3a --reason "laptop stolen"
    """
    with cli_errors():
        get_services().tokens.revoke_agent_key(name, kid, actor=actor(), reason=reason)
    console.print(f"revoked key {kid} of {name}; its outstanding tokens are inactive")


def revoke_tokens(
    name: Annotated[str, typer.Argument(help="the agent")],
    reason: Annotated[str, typer.Option(help="why (recorded in the audit log)")],
) -> None:
    """Make every token the agent holds inactive now (it can get new ones).

    Example: charter agent revoke-tokens support-summarizer --reason "incident INC-42"
    """
    with cli_errors():
        get_services().tokens.revoke_agent_tokens(name, actor=actor(), reason=reason)
    console.print(f"every outstanding token of {name} is now inactive")


@keys_app.command("list")
def keys_list(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Charter's signing keys: the active one and those still verifying (overlap).

    Example: charter keys list
    """
    services = get_services()
    with cli_errors():
        keys = services.tokens.signing_keys.all()
    now = services.clock.now()
    if json_out:
        emit_json(
            [
                {
                    "kid": k.kid,
                    "alg": k.alg.value,
                    "status": k.status(now),
                    "created_at": k.created_at.isoformat(),
                    "retires_at": k.retires_at.isoformat() if k.retires_at else None,
                }
                for k in keys
            ]
        )
        return
    table = listing("kid", "alg", "status", "created", "retires", title="signing keys")
    for k in keys:
        table.add_row(
            k.kid,
            k.alg.value,
            k.status(now),
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.retires_at:%Y-%m-%d %H:%M}" if k.retires_at else "",
        )
    console.print(table)


@keys_app.command("rotate")
def keys_rotate(
    alg: Annotated[Alg, typer.Option(help="algorithm of the new key")] = Alg.ES256,
    overlap: Annotated[str, typer.Option(help="how long the old key keeps verifying")] = "24h",
    immediately: Annotated[
        bool,
        typer.Option("--immediately", help="retire the old key now (compromise): tokens break"),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A new signing key now; the old one verifies until the overlap ends.

    Example: charter keys rotate --overlap 24h
    """
    with cli_errors():
        span = _seconds(overlap, "overlap") if overlap else DEFAULT_OVERLAP
        key = get_services().tokens.rotate_signing_key(
            actor=actor(), alg=alg, overlap=span, immediately=immediately
        )
    if json_out:
        emit_json(
            {"kid": key.kid, "alg": key.alg.value, "overlap_seconds": 0 if immediately else span}
        )
        return
    console.print(f"new signing key {key.kid} ({key.alg}) is active")
    console.print(
        "the old key was retired now"
        if immediately
        else f"the old key keeps verifying for {overlap}"
    )


def _token_argument(token: str) -> str:
    if token == "-":  # noqa: S105 - stdin, not a password
        return sys.stdin.read().strip()
    return token.strip()


@token_app.command("introspect")
def token_introspect(
    token: Annotated[str, typer.Argument(help="the access token ('-' reads stdin)")],
) -> None:
    """Is this token active, and what does it say? (RFC 7662 JSON, plus why if inactive.)

    Example: charter tokens introspect "$ACCESS_TOKEN"
    """
    with cli_errors():
        verified, reason = get_services().tokens.inspect(_token_argument(token))
    if verified is None:
        emit_json({"active": False, "reason": reason})
        raise typer.Exit(1)
    emit_json(verified.introspection())


@token_app.command("revoke")
def token_revoke(
    token: Annotated[str, typer.Argument(help="the access token ('-' reads stdin)")],
) -> None:
    """Revoke one token now (RFC 7009 semantics: an invalid token is no error).

    Example: charter tokens revoke "$ACCESS_TOKEN"
    """
    with cli_errors():
        done = get_services().tokens.revoke(_token_argument(token), client_id=None, actor=actor())
    console.print("revoked" if done else "nothing to revoke (invalid, expired or already revoked)")


@idp_app.command("trust")
def idp_trust(
    issuer: Annotated[str, typer.Argument(help="the provider's 'iss' value")],
    jwks_url: Annotated[str | None, typer.Option(help="where its JWKS is published")] = None,
    jwks_file: Annotated[Path | None, typer.Option(help="a JWKS document (read now)")] = None,
    audience: Annotated[
        str | None, typer.Option(help="its 'aud' for Charter (default: Charter's issuer)")
    ] = None,
    subject_claim: Annotated[str, typer.Option(help="the claim holding the e-mail")] = "email",
) -> None:
    """Trust an identity provider's tokens as a person's authority to delegate.

    Example: charter idp trust https://acme.okta.com --jwks-url https://acme.okta.com/oauth2/v1/keys
    """
    with cli_errors():
        document = None
        if jwks_file is not None:
            document = load_json(
                read_input_file(jwks_file, limit=1024 * 1024, field="jwks_file"),
                source=str(jwks_file),
                field="jwks_file",
            )
        get_services().tokens.trusted.add(
            issuer,
            actor=actor(),
            jwks_url=jwks_url,
            jwks=document,
            audience=audience,
            subject_claim=subject_claim,
        )
    console.print(f"trusting {issuer} (person from claim '{subject_claim}')")


@idp_app.command("list")
def idp_list(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The trusted identity providers.

    Example: charter idp list
    """
    with cli_errors():
        issuers = get_services().tokens.trusted.all()
    rows = [
        {
            "issuer": i.issuer,
            "jwks_url": i.jwks_url,
            "jwks_file": i.jwks is not None,
            "audience": i.audience,
            "subject_claim": i.subject_claim,
        }
        for i in issuers
    ]
    if json_out:
        emit_json(rows)
        return
    table = listing(
        "issuer", "keys", "audience", "subject claim", title="trusted identity providers"
    )
    for i in issuers:
        table.add_row(
            i.issuer,
            i.jwks_url or "(from file)",
            i.audience or "(Charter's issuer)",
            i.subject_claim,
        )
    console.print(table)


@idp_app.command("remove")
def idp_remove(issuer: Annotated[str, typer.Argument(help="the provider's 'iss' value")]) -> None:
    """Stop trusting an identity provider (delegated tokens already issued expire as usual).

    Example: charter idp remove https://acme.okta.com
    """
    with cli_errors():
        get_services().tokens.trusted.remove(issuer, actor=actor())
    console.print(f"no longer trusting {issuer}")


def register(app: typer.Typer) -> None:
    """Add the credential commands to ``charter`` and ``charter agent``."""
    agent_cli.app.command("enroll")(enroll)
    agent_cli.app.command("keys")(list_keys)
    # A key id is an RFC 7638 thumbprint, base64url: it may begin with "-". Unknown
    # options pass through as arguments, so `revoke-key bot -kqmw…` works without "--".
    agent_cli.app.command("revoke-key", context_settings={"ignore_unknown_options": True})(
        revoke_key
    )
    agent_cli.app.command("revoke-tokens")(revoke_tokens)
    app.add_typer(keys_app, name="keys")
    app.add_typer(token_app, name="tokens")
    app.add_typer(idp_app, name="idp")


__all__ = ["register"]
