"""Tables of sign-in and access to Charter itself (migration ``0002_auth``).

Who may use the console and the management API (``auth_users``), their
server-side sessions, personal API tokens, the PEP keys that policy
enforcement points present to the AuthZEN endpoints, failed sign-in attempts
(kept in the store so rate limiting holds across processes and replicas) and
pending OpenID Connect authorization requests (state, nonce, PKCE verifier).

No secret is stored in the clear: session ids, API tokens, PEP keys and OIDC
``state`` values are 256-bit random strings kept as SHA-256 digests (a fast
hash is right for high-entropy secrets; passwords, which are not, get argon2id).
"""

from __future__ import annotations

import sqlalchemy as sa

from charter.store.schema import Time, metadata

auth_users = sa.Table(
    "auth_users",
    metadata,
    sa.Column("email", sa.String(320), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text),  # NULL: OpenID Connect sign-in only
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", sa.String(320), nullable=False),
    sa.Column("disabled_at", Time),
    sa.Column("last_sign_in_at", Time),
)

auth_sessions = sa.Table(
    "auth_sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column(
        "email",
        sa.String(320),
        sa.ForeignKey("auth_users.email", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),  # "password" | "oidc"
    sa.Column("created_at", Time, nullable=False),
    sa.Column("last_seen_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False, index=True),
)

auth_api_tokens = sa.Table(
    "auth_api_tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column(
        "email",
        sa.String(320),
        sa.ForeignKey("auth_users.email", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", sa.String(320), nullable=False),
    sa.Column("expires_at", Time),
    sa.Column("last_used_at", Time),
    sa.Column("revoked_at", Time),
)

auth_pep_keys = sa.Table(
    "auth_pep_keys",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("created_by", sa.String(320), nullable=False),
    sa.Column("last_used_at", Time),
    sa.Column("revoked_at", Time),
)

auth_login_attempts = sa.Table(
    "auth_login_attempts",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("key", sa.String(400), nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Index("ix_auth_login_attempts_key_at", "key", "at"),
)

auth_oidc_requests = sa.Table(
    "auth_oidc_requests",
    metadata,
    sa.Column("state_hash", sa.String(64), primary_key=True),
    sa.Column("code_verifier", sa.String(128), nullable=False),
    sa.Column("nonce", sa.String(64), nullable=False),
    sa.Column("next_url", sa.String(2048), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False, index=True),
)
