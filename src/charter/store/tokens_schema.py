"""Tables of the security token service (migration ``0003_tokens``).

Nothing here holds a usable secret in the clear: signing keys are sealed with
the master key (AES-256-GCM), agents' keys are public keys, enrolment codes are
stored as SHA-256 digests, and tokens themselves are never stored — only the
``jti`` of revoked ones and of single-use assertions and proofs.
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.store.schema import JSONType, Time, metadata

#: Our own signing keys (RFC 7517). ``retires_at`` is set when a newer key takes
#: over: until then the key still verifies (the overlap window), after it the key
#: is gone from the JWKS and its sealed private key is wiped.
signing_keys = sa.Table(
    "signing_keys",
    metadata,
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("alg", sa.String(16), nullable=False),
    sa.Column("public_jwk", JSONType, nullable=False),
    sa.Column("sealed_private_key", sa.Text),
    sa.Column("master_key_id", sa.String(16), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", sa.String(320), nullable=False),
    sa.Column("retires_at", Time),
)

#: Agents' public keys for ``private_key_jwt`` (RFC 7523). The kid is the RFC 7638
#: thumbprint. Rotation sets ``expires_at`` on the old key (overlap); revocation
#: sets ``revoked_at``. Rows are kept: the audit trail refers to them.
agent_keys = sa.Table(
    "agent_keys",
    metadata,
    sa.Column(
        "agent", sa.String(63), sa.ForeignKey("agents.name", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("kid", sa.String(64), primary_key=True),
    sa.Column("alg", sa.String(16), nullable=False),
    sa.Column("public_jwk", JSONType, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", sa.String(320), nullable=False),
    sa.Column("expires_at", Time),
    sa.Column("revoked_at", Time),
)

#: One-time enrolment codes (RFC 7591 initial access tokens), by SHA-256 digest.
enrolment_codes = sa.Table(
    "enrolment_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    sa.Column(
        "agent",
        sa.String(63),
        sa.ForeignKey("agents.name", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", sa.String(320), nullable=False),
    sa.Column("expires_at", Time, nullable=False),
    sa.Column("used_at", Time),
)

#: Single-use identifiers: client assertion ``jti`` (RFC 7523 §3 item 7) and DPoP
#: proof ``jti`` (RFC 9449 §11.1), kept until the JWT they came in has expired.
used_jtis = sa.Table(
    "used_jtis",
    metadata,
    sa.Column("namespace", sa.String(16), primary_key=True),
    sa.Column("issuer", sa.String(320), primary_key=True),
    sa.Column("jti", sa.String(256), primary_key=True),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
)

#: Access tokens revoked before their expiry (RFC 7009), until they would expire anyway.
revoked_tokens = sa.Table(
    "revoked_tokens",
    metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(63), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False, index=True),
    sa.Column("revoked_at", Time, nullable=False),
    sa.Column("revoked_by", sa.String(320), nullable=False),
)

#: Per agent: tokens issued before ``not_before`` (epoch seconds) are inactive.
#: Set when an agent key is revoked or every token of an agent is revoked at once.
token_floors = sa.Table(
    "token_floors",
    metadata,
    sa.Column("agent", sa.String(63), primary_key=True),
    sa.Column("not_before", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

#: Identity providers whose tokens may be a token exchange's ``subject_token`` (RFC 8693).
trusted_issuers = sa.Table(
    "trusted_issuers",
    metadata,
    sa.Column("issuer", sa.String(512), primary_key=True),
    sa.Column("jwks_url", sa.Text),
    sa.Column("jwks", JSONType),
    sa.Column("audience", sa.String(512)),
    sa.Column("subject_claim", sa.String(64), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", sa.String(320), nullable=False),
)
