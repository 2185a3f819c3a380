"""Provider-neutral credentials: private keys (PEM), JWTs and database URLs.

These have well-defined structure but no vendor prefix, so each has a
structural check — a PEM body that is really base64 of a plausible length, a
JWT whose header names a signing algorithm, a connection string whose password
is not a placeholder — and a lower priority than any vendor detector that
covers the same bytes.
"""

from __future__ import annotations

import datetime as dt
import re

from charter.discovery.scan import checks
from charter.discovery.scan.detector import REGISTRY, Detector, Refined, tail
from charter.domain.enums import CredentialKind, Severity

_PEM_HEADER_LINE = re.compile(rb"^[A-Za-z-]+: .*$", re.MULTILINE)
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")
_ESCAPES = re.compile(rb"\\[nr]")


#: PKCS#8 bodies of Ed25519 (64 base64 characters) and P-256 (184) keys, with room to spare.
_AGENT_KEY_BODY = 256


def agent_key_id(label: str, body: bytes) -> str | None:
    """The kid (RFC 7638 thumbprint of the public half) an agent key would be enrolled
    under: ``charter agent enroll --generate`` writes unencrypted PKCS#8 Ed25519 or P-256
    keys. The recorder asks the store whether that kid is enrolled; a key of another
    shape, or one that does not parse, has none."""
    if label != "PRIVATE KEY" or len(body) > _AGENT_KEY_BODY:
        return None
    from charter.domain.tokens.jwk import jwk_from_public_key, load_private_key_pem
    from charter.errors import CharterError

    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    pem = b"-----BEGIN PRIVATE KEY-----\n" + lines + b"\n-----END PRIVATE KEY-----\n"
    try:
        key = load_private_key_pem(pem)
        return jwk_from_public_key(key.public_key())["kid"]
    except (CharterError, ValueError, TypeError):
        return None


def _pem_refine(detector: Detector, data: bytes, match: re.Match[bytes]) -> Refined | None:
    label = match.group("label").decode()
    raw = _ESCAPES.sub(b"\n", match.group("secret"))
    encrypted = b"ENCRYPTED" in raw or "ENCRYPTED" in label
    body = _PEM_HEADER_LINE.sub(b"", raw)
    if label.startswith("PGP"):  # drop the armour checksum line (=abcd)
        body = re.sub(rb"(?m)^=[A-Za-z0-9+/]{4}\s*$", b"", body)
    compact = re.sub(rb"\s+", b"", body)
    if len(compact) < 64 or _NOT_BASE64.search(compact) or checks.looks_placeholder(compact):
        return None
    properties: dict[str, object] = {
        "key_type": label.removesuffix(" PRIVATE KEY").strip() or "PKCS#8",
        "encrypted": encrypted,
    }
    kid = agent_key_id(label, compact) if not encrypted else None
    if kid:
        properties["public_kid"] = kid
    return Refined(
        compact,
        compact,
        match.start(),
        match.end(),
        properties,
        Severity.MEDIUM if encrypted else Severity.CRITICAL,
        preview=f"{label}…{tail(compact.rstrip(b'='))}",
    )


def _jwt_refine(detector: Detector, data: bytes, match: re.Match[bytes]) -> Refined | None:
    token = match.group("secret")
    if checks.is_documented_example(token):
        return None
    claims = checks.jwt_claims(token)
    if claims is None:
        return None
    properties: dict[str, object] = {}
    severity = Severity.MEDIUM
    issuer = claims.get("iss")
    if isinstance(issuer, str):
        properties["issuer"] = issuer[:200]
    expiry = claims.get("exp")
    if isinstance(expiry, int | float) and not isinstance(expiry, bool):
        try:
            expires = dt.datetime.fromtimestamp(expiry, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            expires = None
        if expires is not None:
            properties["expires_at"] = expires.isoformat()
            if expires < dt.datetime.now(tz=dt.UTC):
                severity = Severity.LOW
    else:
        properties["expires_at"] = None  # no expiry: a standing credential
        severity = Severity.HIGH
    return Refined(token, token, match.start("secret"), match.end("secret"), properties, severity)


#: Values that documentation and compose files use instead of a password.
_DEFAULT_PASSWORDS = frozenset(
    {
        b"password",
        b"passwd",
        b"pass",
        b"pwd",
        b"secret",
        b"changeme",
        b"example",
        b"test",
        b"root",
        b"admin",
        b"postgres",
        b"mysql",
        b"mongo",
        b"mongodb",
        b"user",
        b"username",
        b"xxx",
        b"pw",
        b"p",
        b"",
        b"dbpassword",
        b"mypassword",
        b"yourpassword",
    }
)
_LOCAL_HOSTS = (b"localhost", b"127.0.0.1", b"0.0.0.0", b"[::1]", b"host.docker.internal")


def _database_refine(detector: Detector, data: bytes, match: re.Match[bytes]) -> Refined | None:
    user, password, host = match.group("user"), match.group("secret"), match.group("host")
    if password.lower() in _DEFAULT_PASSWORDS or password == user:
        return None
    if checks.looks_placeholder(password) or checks.looks_placeholder(user):
        return None
    scheme = match.group("scheme").decode()
    local = host.lower().startswith(_LOCAL_HOSTS)
    shown_host = host.decode("utf-8", "replace")[:60]
    return Refined(
        user + b":" + password + b"@" + host,
        password,
        match.start(),
        match.end(),
        {"host": shown_host, "user": user.decode("utf-8", "replace")[:64]},
        Severity.LOW if local else Severity.HIGH,
        preview=f"{scheme}://{user.decode('utf-8', 'replace')[:32]}:…{tail(password)}@{shown_host}",
    )


def _database_detector(
    id: str, title: str, provider: str, system: str, schemes: str, references: tuple[str, ...]
) -> Detector:
    return Detector(
        id=id,
        title=title,
        provider=provider,
        system=system,
        kind=CredentialKind.CONNECTION_STRING,
        severity=Severity.HIGH,
        prefilter=rf"(?:{schemes})://[^\s:/@]+:[^\s@]+@",
        prefilter_caseless=True,
        pattern=rf"(?i:(?P<scheme>{schemes}))://(?P<user>[^\s:/@'\"`<>]{{1,128}}):"
        rf"(?P<secret>[^\s@/'\"`<>]{{1,256}})@(?P<host>[A-Za-z0-9.\-_\[\]:%,]{{1,512}})",
        prefixes=(),
        description=f"A {provider} connection string with an inline password.",
        remediation="Change the database user's password, move the connection string to a "
        "secret manager (or use IAM/database authentication), and remove it from the file "
        "and from git history.",
        references=references,
        refine=_database_refine,
        window_after=800,
        priority=-10,
    )


REGISTRY.add(
    _database_detector(
        "postgres-connection-string",
        "PostgreSQL connection string with password",
        "PostgreSQL",
        "postgresql",
        r"postgres(?:ql)?(?:\+[a-z0-9]+)?",
        ("https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS",),
    ),
    _database_detector(
        "mysql-connection-string",
        "MySQL connection string with password",
        "MySQL",
        "mysql",
        r"mysql(?:x)?(?:\+[a-z0-9]+)?|mariadb(?:\+[a-z0-9]+)?",
        ("https://dev.mysql.com/doc/refman/8.4/en/connecting-using-uri-or-key-value-pairs.html",),
    ),
    _database_detector(
        "mongodb-connection-string",
        "MongoDB connection string with password",
        "MongoDB",
        "mongodb",
        r"mongodb(?:\+srv)?",
        ("https://www.mongodb.com/docs/manual/reference/connection-string/",),
    ),
    Detector(
        id="private-key",
        title="Private key (PEM)",
        provider="Private key",
        system="pki",
        kind=CredentialKind.PRIVATE_KEY,
        severity=Severity.CRITICAL,
        prefilter=r"-----BEGIN[A-Z ]{0,20} PRIVATE KEY",
        pattern=r"-----BEGIN (?P<label>(?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY"
        r"(?: BLOCK)?)-----(?P<secret>[\s\S]{40,16000}?)-----END (?P=label)-----",
        prefixes=(),
        description="A PEM/OpenSSH/PGP private key: whoever holds it signs as, or decrypts "
        "for, its owner (TLS server, SSH user, GitHub App, service account).",
        remediation="Replace the key pair (revoke the certificate, remove the SSH/deploy key, "
        "rotate the app key), keep private keys in a secret manager or HSM, and remove it from "
        "the file and from git history.",
        references=("https://www.rfc-editor.org/rfc/rfc7468",),
        owasp=("NHI2", "NHI7"),
        refine=_pem_refine,
        window_after=16200,
        priority=-10,
    ),
    Detector(
        id="jwt",
        title="JSON Web Token",
        provider="JWT",
        system="jwt",
        kind=CredentialKind.TOKEN,
        severity=Severity.MEDIUM,
        prefilter=r"eyJ[A-Za-z0-9_-]{8,}\.eyJ",
        pattern=r"(?<![A-Za-z0-9_-])(?P<secret>eyJ[A-Za-z0-9_-]{8,2000}\.eyJ[A-Za-z0-9_-]{8,8000}"
        r"\.[A-Za-z0-9_-]{16,1000})(?![A-Za-z0-9_-])",
        prefixes=("eyJ",),
        description="A signed JSON Web Token (RFC 7519): a bearer credential until it expires; "
        "high when it has no expiry, low when already expired.",
        remediation="Revoke the token's session or rotate its signing key if it is live; "
        "do not commit tokens — fetch them at run time.",
        references=("https://www.rfc-editor.org/rfc/rfc7519",),
        refine=_jwt_refine,
        window_after=11000,
        priority=-10,
    ),
)
