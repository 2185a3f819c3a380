"""AWS credentials from an IAM export: access keys and signing certificates.

The credential report says which key slots exist, when each was rotated and last
used; ``list-access-keys`` gives the key ids. The two are matched by creation
time, and keys the report does not know are still listed. Only key ids are kept
(they are identifiers, not secrets); no secret access key is ever in an export.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from charter.connectors.aws_mapping import Context, arn_identity_id
from charter.connectors.base import fingerprint, preview, require
from charter.connectors.dates import parse_time
from charter.connectors.skipping import flat, guard
from charter.connectors.streaming import Rec
from charter.domain.batch import Skipped
from charter.domain.enums import CredentialKind
from charter.domain.estate import Credential


def _match_key(keys: list[Rec], rotated: Any, slot: int) -> dict[str, Any] | None:
    """The list-access-keys entry for report slot ``slot``: by creation time, else by order."""
    if not keys:
        return None
    for rec in keys:
        created = parse_time(rec.data.get("CreateDate"), where=rec.where, field="CreateDate")
        if created and rotated and abs((created - rotated).total_seconds()) < 120:
            return dict(rec.data)
    ordered = sorted(keys, key=lambda r: str(r.data.get("CreateDate", "")))
    return dict(ordered[slot - 1].data) if len(ordered) >= slot else None


def credentials(ctx: Context, skipped: Skipped | None = None) -> Iterator[Credential]:
    """The account's keys and certificates; a malformed report row or key is skipped."""
    skipped = Skipped() if skipped is None else skipped
    matched: set[str] = set()
    for arn, row in ctx.report.items():
        yield from flat(
            [row], skipped, functools.partial(_report_row, arn, ctx=ctx, matched=matched)
        )
    for keys in ctx.keys.values():  # keys the report does not know (or no report given)
        for rec in keys:
            found = guard(rec, skipped, functools.partial(_listed_key, ctx=ctx, matched=matched))
            if found is not None:
                yield found


def _report_row(arn: str, row: Rec, *, ctx: Context, matched: set[str]) -> Iterator[Credential]:
    data = row.data
    user = str(data["user"])
    identity = (
        f"aws:{ctx.account}:root" if user == "<root_account>" else arn_identity_id(ctx.account, arn)
    )
    for n in (1, 2):
        rotated = parse_time(
            data[f"access_key_{n}_last_rotated"],
            where=row.where,
            field=f"access_key_{n}_last_rotated",
        )
        if rotated is None:
            continue
        key = _match_key(ctx.keys.get(user, []), rotated, n)
        key_id = str(key["AccessKeyId"]) if key else None
        if key_id:
            matched.add(key_id)
        last_used = parse_time(
            data[f"access_key_{n}_last_used_date"],
            where=row.where,
            field=f"access_key_{n}_last_used_date",
        )
        yield Credential(
            id=f"aws:{ctx.account}:access-key/{key_id or f'{user}#{n}'}",
            source="aws",
            account=ctx.account,
            kind=CredentialKind.ACCESS_KEY,
            provider="aws",
            fingerprint=fingerprint(key_id or f"{arn}#access_key_{n}"),
            preview=preview(key_id) if key_id else f"access key {n} of {user}",
            identity=identity,
            created_at=rotated,
            last_used_at=last_used,
            last_rotated_at=rotated,
            location=f"aws iam user {user}",
            properties={
                "active": data[f"access_key_{n}_active"].lower() == "true",
                "slot": n,
                "key_id": key_id,
                "last_used_service": _na(data[f"access_key_{n}_last_used_service"]),
                "last_used_region": _na(data.get(f"access_key_{n}_last_used_region")),
            },
        )
    for n in (1, 2):
        if data.get(f"cert_{n}_active", "false").lower() == "true":
            rotated = parse_time(
                data.get(f"cert_{n}_last_rotated"),
                where=row.where,
                field=f"cert_{n}_last_rotated",
            )
            yield Credential(
                id=f"aws:{ctx.account}:signing-cert/{user}#{n}",
                source="aws",
                account=ctx.account,
                kind=CredentialKind.CERTIFICATE,
                provider="aws",
                fingerprint=fingerprint(f"{arn}#cert_{n}"),
                preview=f"signing certificate {n} of {user}",
                identity=identity,
                created_at=rotated,
                last_rotated_at=rotated,
                location=f"aws iam user {user}",
                properties={"active": True, "slot": n},
            )


def _listed_key(rec: Rec, *, ctx: Context, matched: set[str]) -> Credential | None:
    user = str(require(rec, "UserName"))
    key_id = str(require(rec, "AccessKeyId"))
    if key_id in matched:
        return None
    created = parse_time(rec.data.get("CreateDate"), where=rec.where, field="CreateDate")
    # a live pull adds iam:GetAccessKeyLastUsed's answer to list-access-keys' record
    last = rec.data.get("AccessKeyLastUsed") or {}
    last_used = parse_time(last.get("LastUsedDate"), where=rec.where, field="AccessKeyLastUsed")
    return Credential(
        id=f"aws:{ctx.account}:access-key/{key_id}",
        source="aws",
        account=ctx.account,
        kind=CredentialKind.ACCESS_KEY,
        provider="aws",
        fingerprint=fingerprint(key_id),
        preview=preview(key_id),
        identity=f"aws:{ctx.account}:user/{user}",
        created_at=created,
        last_used_at=last_used,
        last_rotated_at=created,
        location=f"aws iam user {user}",
        properties={
            "active": str(rec.data.get("Status")) == "Active",
            "key_id": key_id,
            **({"last_used_service": _na(last.get("ServiceName"))} if last else {}),
        },
    )


def _na(value: Any) -> str | None:
    return None if value in (None, "", "N/A", "no_information", "not_supported") else str(value)
