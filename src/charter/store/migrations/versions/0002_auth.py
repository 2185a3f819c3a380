"""auth: console users, sessions, personal API tokens, PEP keys, sign-in attempts, OIDC requests

Revision ID: 0002_auth
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_auth"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auth_users",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("disabled_at", TIME, nullable=True),
        sa.Column("last_sign_in_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_auth_users")),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("last_seen_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["email"],
            ["auth_users.email"],
            name=op.f("fk_auth_sessions_email_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_auth_sessions")),
    )
    op.create_index(op.f("ix_auth_sessions_email"), "auth_sessions", ["email"])
    op.create_index(op.f("ix_auth_sessions_expires_at"), "auth_sessions", ["expires_at"])
    op.create_table(
        "auth_api_tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("expires_at", TIME, nullable=True),
        sa.Column("last_used_at", TIME, nullable=True),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["email"],
            ["auth_users.email"],
            name=op.f("fk_auth_api_tokens_email_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_auth_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_auth_api_tokens_email"), "auth_api_tokens", ["email"])
    op.create_table(
        "auth_pep_keys",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("last_used_at", TIME, nullable=True),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_auth_pep_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_auth_pep_keys_key_hash")),
    )
    op.create_table(
        "auth_login_attempts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_login_attempts")),
    )
    op.create_index("ix_auth_login_attempts_key_at", "auth_login_attempts", ["key", "at"])
    op.create_table(
        "auth_oidc_requests",
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("next_url", sa.String(length=2048), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("state_hash", name=op.f("pk_auth_oidc_requests")),
    )
    op.create_index(op.f("ix_auth_oidc_requests_expires_at"), "auth_oidc_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_table("auth_oidc_requests")
    op.drop_table("auth_login_attempts")
    op.drop_table("auth_pep_keys")
    op.drop_table("auth_api_tokens")
    op.drop_table("auth_sessions")
    op.drop_table("auth_users")
