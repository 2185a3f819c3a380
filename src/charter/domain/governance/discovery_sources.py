"""The ``discovery`` section of the governance policy file: sources the worker pulls on its own.

Two kinds of source, each with a name (its key in the store and in ``charter discover
status``) and an interval:

* ``live`` — a connector's live API, exactly what ``charter discover <live> --live
  <target>`` reads; ``token_env`` names the environment variable holding the API token
  (default: the variable the connector declares). Only the variable's *name* is in the
  policy and the store, never its value.
* ``watch`` — a directory of exports (any connector's files, as ``charter discover all``
  reads them); a file is ingested once per content (SHA-256), so a pass over an
  unchanged directory reads nothing.

A source that fails is retried with exponential backoff (:func:`retry_delay`), and
after ``failures_before_finding`` failures in a row it raises a finding
(``discovery-source-failing``, about a :class:`SourceFacts`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from charter.domain.charter import Duration

#: The connectors whose ``--live`` target a source may name (the connector registry is
#: the truth at run time: one without a live API fails that source, with the reason).
LIVE_SOURCES = ("aws", "entra", "gcp", "github", "gworkspace", "k8s", "okta", "slack")
SOURCE_NAME = r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$"
ENV_NAME = r"^[A-Z_][A-Z0-9_]{0,127}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiscoverySource(_Strict):
    """One source the worker pulls: a live API target or a watched export directory."""

    name: str = Field(pattern=SOURCE_NAME)
    live: str | None = None
    target: str | None = Field(default=None, min_length=1, max_length=512)
    watch: str | None = Field(default=None, min_length=1, max_length=4096)
    every: Duration = 3600
    token_env: str | None = Field(default=None, pattern=ENV_NAME)

    @field_validator("live")
    @classmethod
    def _known_live(cls, value: str | None) -> str | None:
        if value is not None and value not in LIVE_SOURCES:
            raise ValueError(f"{value!r} is not a live source; one of {', '.join(LIVE_SOURCES)}")
        return value

    @field_validator("every")
    @classmethod
    def _not_too_often(cls, value: int) -> int:
        if value < 10:
            raise ValueError("a source is pulled at most every 10s")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> DiscoverySource:
        if (self.live is None) == (self.watch is None):
            raise ValueError("give either 'live' (with 'target') or 'watch', not both or neither")
        if self.live is not None and self.target is None:
            raise ValueError(f"'target' is required for a live {self.live} source")
        if self.watch is not None and (self.target is not None or self.token_env is not None):
            raise ValueError("a 'watch' source takes no 'target' or 'token_env'")
        return self

    @property
    def kind(self) -> str:
        return "live" if self.live is not None else "watch"

    @property
    def describe(self) -> str:
        """What is pulled, as a person reads it: ``github live acme`` or ``watch /exports``."""
        return f"{self.live} live {self.target}" if self.live else f"watch {self.watch}"


class DiscoveryPolicy(_Strict):
    """The ``discovery`` section: the sources, and how failures are retried and reported."""

    failures_before_finding: int = Field(default=3, ge=1, le=100)
    backoff_max: Duration = 6 * 3600
    sources: list[DiscoverySource] = Field(default_factory=list, max_length=500)

    @field_validator("sources")
    @classmethod
    def _unique(cls, value: list[DiscoverySource]) -> list[DiscoverySource]:
        seen: set[str] = set()
        for source in value:
            if source.name in seen:
                raise ValueError(f"source name {source.name!r} is used twice")
            seen.add(source.name)
        return value

    def get(self, name: str) -> DiscoverySource | None:
        return next((s for s in self.sources if s.name == name), None)


def retry_delay(every: int, failures: int, ceiling: int) -> int:
    """Seconds until the next try after ``failures`` failures in a row (0: on schedule).

    Exponential from a tenth of the interval (at least 10 s), doubling with each
    failure, never more than ``ceiling``: a source that is down is not hammered, and
    one that recovers is back on its schedule after its first success.
    """
    if failures <= 0:
        return every
    base = max(10, every // 10)
    delay = base * 2 ** min(failures - 1, 30)
    return int(min(delay, max(ceiling, base)))


@dataclass(frozen=True, slots=True)
class SourceFacts:
    """A configured source's health, as the ``discovery-source-failing`` rule sees it."""

    name: str
    describe: str
    consecutive_failures: int
    threshold: int
    last_error: str | None
    last_error_at: dt.datetime | None
    last_success_at: dt.datetime | None

    @property
    def id(self) -> str:
        return self.name
