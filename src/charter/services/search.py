"""AuthZEN search as a use case: resolve the subject, search the compiled policy, cut a page.

Reads only: a search decides nothing, so it records no Activity. It runs on the
decision service's current snapshot and clock, so its answers agree with the
evaluations served at the same moment. What the policy names exactly (the
:class:`~charter.domain.search_vocabulary.Vocabulary`) follows the snapshots,
re-reading only the agents that changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from charter.domain.compiled import Snapshot
from charter.domain.search import (
    Found,
    resolve_subject,
    search_actions,
    search_resources,
    search_subjects,
    why_empty,
)
from charter.domain.search_paging import page_of, query_digest, read_token
from charter.domain.search_vocabulary import Vocabulary, VocabularyIndex
from charter.services.decisions import DecisionService

#: What page tokens are MACed with, derived from the master key (the same on every replica).
PAGE_KEY_PURPOSE = "authzen search page tokens"


class SearchKind(StrEnum):
    SUBJECT = "subject"
    RESOURCE = "resource"
    ACTION = "action"


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A parsed AuthZEN search (the interface checked shapes and types)."""

    kind: SearchKind
    subject_type: str
    subject_id: str | None
    action: str | None
    resource_type: str
    resource_id: str | None
    context: Mapping[str, Any] = field(default_factory=dict)
    on_behalf_of: str | None = None
    token: str | None = None
    limit: int | None = None
    #: the request's entities as sent (properties included): what a page token is bound to
    bound: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    page: dict[str, Any]
    results: list[dict[str, Any]]
    context: dict[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        """The response body, ``page`` first (AuthZEN recommends it: a PEP can show progress)."""
        out: dict[str, Any] = {"page": self.page}
        if self.context:
            out["context"] = self.context
        out["results"] = self.results
        return out


def _reason(code: str, words: str) -> dict[str, Any]:
    return {"reasons": [{"id": "0", "code": code, "reason_admin": {"en": words}}]}


class SearchService:
    def __init__(self, decisions: DecisionService, page_key: Callable[[], bytes]) -> None:
        self._decisions = decisions
        self._page_key_source = page_key
        self._page_key: bytes | None = None
        self._known = VocabularyIndex()
        self._lock = threading.Lock()

    def _key(self) -> bytes:
        if self._page_key is None:
            self._page_key = self._page_key_source()
        return self._page_key

    def _vocabulary(self, snapshot: Snapshot) -> Vocabulary:
        with self._lock:  # held for microseconds unless an agent changed since the last search
            return self._known.of(snapshot)

    def search(self, request: SearchRequest) -> SearchAnswer:
        """One page of a search; :class:`~charter.errors.InvalidInput` for a bad page token."""
        key = self._key()
        digest = query_digest({"kind": request.kind.value, "limit": request.limit, **request.bound})
        offset = read_token(key, digest, request.token) if request.token else 0
        snapshot = self._decisions.snapshot()
        now_us = self._decisions.now_us()
        found, context = self._find(snapshot, request, now_us)
        page = page_of(found, offset, request.limit, key, digest)
        return SearchAnswer(
            page.describe(), [self._entity(request, item) for item in page.items], context
        )

    def _find(
        self, snapshot: Snapshot, request: SearchRequest, now_us: int
    ) -> tuple[list[Found], dict[str, Any] | None]:
        context = request.context
        if request.kind is SearchKind.SUBJECT:
            assert request.action is not None
            assert request.resource_id is not None
            resource = f"{request.resource_type}:{request.resource_id}"
            found = search_subjects(
                snapshot,
                request.subject_type,
                request.action,
                resource,
                context,
                request.on_behalf_of,
                now_us,
            )
            return found, None
        assert request.subject_id is not None
        subject = resolve_subject(snapshot, request.subject_type, request.subject_id)
        empty = why_empty(snapshot, subject, request.subject_type, request.subject_id, now_us)
        if subject is None or empty is not None:
            assert empty is not None
            return [], _reason(*empty)
        known = self._vocabulary(snapshot)
        if request.kind is SearchKind.RESOURCE:
            assert request.action is not None
            found = search_resources(
                snapshot,
                known,
                subject,
                request.action,
                request.resource_type,
                context,
                request.on_behalf_of,
                now_us,
            )
        else:
            assert request.resource_id is not None
            resource = f"{request.resource_type}:{request.resource_id}"
            found = search_actions(
                snapshot, known, subject, resource, context, request.on_behalf_of, now_us
            )
        return found, None

    @staticmethod
    def _entity(request: SearchRequest, item: Found) -> dict[str, Any]:
        if request.kind is SearchKind.SUBJECT:
            return item.entity("id", {"type": request.subject_type})
        if request.kind is SearchKind.RESOURCE:
            return item.entity("id", {"type": request.resource_type})
        return item.entity("name")
