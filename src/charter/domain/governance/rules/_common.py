"""Small helpers the rule modules share (formatting evidence; no logic of its own)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping


def iso(moment: dt.datetime | dt.date | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def days(seconds: int) -> int:
    return seconds // 86400


def active(properties: object) -> bool:
    """False when a source says the credential or identity is disabled, inactive or expired."""
    if type(properties) is not dict and not isinstance(properties, Mapping):  # dict: fast path
        return True
    if properties.get("active") is False or properties.get("enabled") is False:
        return False
    return not (properties.get("disabled") is True or properties.get("expired") is True)


def provider_managed(properties: Mapping[str, object]) -> bool:
    """Identities the provider creates and runs (service-linked roles, Google-managed
    service agents, an account's root): nobody in the organisation owns or retires them."""
    return any(properties.get(key) is True for key in ("service_linked", "google_managed", "root"))
