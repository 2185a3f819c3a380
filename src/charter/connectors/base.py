"""The connector contract: self-describing, ``fetch()`` does I/O, ``normalize()`` is pure.

A connector declares what it is (``id``, ``title``), which real export formats
it reads (each with the exact command that produces it), what access it needs,
and, where the system has one, its live API and how that API authenticates.
``fetch()`` turns files (or the live API) into *raw* records — lazily, so a
multi-gigabyte export is streamed — and ``normalize()`` maps raw records to
canonical ``charter.domain.estate`` records grouped into
:class:`~charter.domain.batch.Batch` objects, one per source and account,
without touching files, the network or the store. A connector also declares
what only its system knows about the credentials it issues: the steps that
revoke one and the steps that rotate one (``providers`` says which
credentials those are), so the core never branches on a source's name.

:class:`Connector` is the contract the core relies on, a :class:`~typing.Protocol`
each connector satisfies structurally (the registry is typed with it, so
``mypy`` checks every connector); :class:`ConnectorBase` is an optional mixin
with the shared defaults. ``tests/unit/connectors/test_contract.py`` lints
every registered connector.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import httpx

from charter.connectors.streaming import Head, Rec, read_json_records
from charter.domain.batch import Batch
from charter.domain.credential_steps import CredentialRef
from charter.errors import CharterError, InvalidInput

RawT = TypeVar("RawT")
_T = TypeVar("_T")


class LiveApiError(CharterError):
    """The live API answered with an error or could not be reached."""

    status = 502
    code = "upstream-error"


@dataclass(frozen=True, slots=True)
class ExportFormat:
    """One real export a connector reads, and how a person produces it."""

    id: str  # "<source>.<name>", e.g. "aws.authorization-details"
    title: str
    command: str  # the exact command that writes this export
    filename: str  # the file name the docs suggest (``discover all`` does not rely on it)
    media: str = "json"  # "json" | "csv"
    required: bool = False  # the connector cannot run without this one


@dataclass(frozen=True, slots=True)
class ExportFile:
    path: Path
    format: ExportFormat


@dataclass(frozen=True, slots=True)
class LiveApi:
    """How ``charter discover <source> --live TARGET`` reaches the system."""

    base_url: str
    target: str  # what TARGET means, e.g. "the organisation login"
    credential_env: str  # environment variable holding the API token
    docs: str  # the API reference this follows
    #: The ``Authorization`` scheme the API expects before the token ("SSWS" for Okta).
    scheme: str = "Bearer"
    #: Headers the API asks every client to send (media type, API version), over the defaults.
    headers: tuple[tuple[str, str], ...] = ()
    #: Environment variable naming a CA bundle, for APIs that run on a private CA.
    ca_env: str | None = None

    def request_headers(self, token: str) -> dict[str, str]:
        """The headers of every request to this API, carrying ``token`` in its own scheme."""
        return {
            "Authorization": f"{self.scheme} {token}",
            "Accept": "application/json",
            "User-Agent": "charter-discovery",
        } | dict(self.headers)

    def verify(self, environ: Mapping[str, str]) -> str | bool:
        """What TLS verification trusts: the CA bundle ``ca_env`` names, else the system's."""
        if self.ca_env is None:
            return True
        return environ.get(self.ca_env, True)


@dataclass(frozen=True, slots=True)
class LiveSdk:
    """How ``charter discover <source> --live TARGET`` reaches a system through its own SDK.

    For systems whose API is signed by the vendor's SDK (AWS SigV4) rather than
    a bearer token: the SDK finds the credentials (its standard chain) and the
    connector's ``fetch_sdk`` reads the same raw records the export files give.
    """

    target: str  # what TARGET means, e.g. "an AWS profile ('default' for the default chain)"
    docs: str  # the API reference this follows
    install: str  # what to install when the SDK is missing


class Stream(Generic[_T]):
    """A re-iterable lazy sequence: each ``iter()`` calls the factory again.

    Lets ``normalize()`` make two passes over an export (AWS: policies first,
    then principals) without holding it in memory, while tests pass lists.
    """

    def __init__(self, factory: Callable[[], Iterator[_T]]) -> None:
        self._factory = factory

    @classmethod
    def of(cls, items: Iterable[_T]) -> Stream[_T]:
        kept = list(items)
        return cls(lambda: iter(kept))

    @classmethod
    def chain(cls, streams: Sequence[Stream[_T]]) -> Stream[_T]:
        def run() -> Iterator[_T]:
            for stream in streams:
                yield from stream

        return cls(run)

    def __iter__(self) -> Iterator[_T]:
        return self._factory()


def json_members(path: Path, members: Sequence[str] | None) -> Stream[tuple[str | None, Rec]]:
    """Stream ``(member, record)`` of array members of a JSON export (all arrays if None)."""

    def run() -> Iterator[tuple[str | None, Rec]]:
        for member, index, rec in read_json_records(path, arrays=members):
            if index >= 0:
                yield member, rec

    return Stream(run)


def json_records(path: Path, member: str | None = None) -> Stream[Rec]:
    """Stream the records of one array: the top-level array, or ``member``'s."""

    def run() -> Iterator[Rec]:
        for found, index, rec in read_json_records(path, arrays=[member] if member else []):
            if index >= 0 and found == member:
                yield rec

    return Stream(run)


def fingerprint(value: str | bytes) -> str:
    """SHA-256 hex: how every credential is stored and matched across sources."""
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


def preview(value: str, *, keep: int = 4) -> str:
    """A recognisable but useless form: the provider prefix and the last characters."""
    if len(value) <= keep * 2:
        return "…" + value[-min(keep, len(value) // 2) :] if value else ""
    head = value[: min(4, len(value) - keep)]
    return f"{head}…{value[-keep:]}"


def text(value: Any) -> str:
    return "" if value is None else str(value)


def require(rec: Rec, key: str) -> Any:
    """A required field of a raw record, or an error naming the record and the field."""
    if not isinstance(rec.data, dict):
        raise rec.fail(f"expected an object, found {type(rec.data).__name__}")
    value = rec.data.get(key)
    if value is None or value == "":
        raise rec.fail(f"the record has no {key!r}", field=f"{rec.where}.{key}")
    return value


class Connector(Protocol[RawT]):
    """A source of non-human identities: what the core relies on. Registered in ``registry``."""

    @property
    def id(self) -> str:
        """The source name: ``charter discover <id>``, and the prefix of every record id."""
        ...

    @property
    def title(self) -> str: ...

    @property
    def formats(self) -> tuple[ExportFormat, ...]: ...

    @property
    def needs(self) -> tuple[str, ...]:
        """The read-only access the export (or live fetch) needs, in the system's own terms."""
        ...

    @property
    def live_api(self) -> LiveApi | None: ...

    @property
    def reports_last_use(self) -> bool:
        """Its exports say when an identity was last used, so no date there means never."""
        ...

    @property
    def providers(self) -> tuple[str, ...]:
        """The credential providers whose revoke and rotate steps this connector knows.

        A credential is matched by its ``provider``, whichever source found it: an AWS
        access key found in a Kubernetes Secret is revoked the AWS way.
        """
        ...

    def sniff(self, head: Head) -> ExportFormat | None:
        """Which of this connector's formats the file is, from a cheap look at its start."""
        ...

    def fetch(self, files: Sequence[ExportFile]) -> RawT:
        """Open the export files (lazily) as raw records: all the I/O."""
        ...

    def fetch_live(self, client: httpx.Client, target: str) -> RawT:
        """Read the same raw records from the live API (where the system has one)."""
        ...

    @property
    def live_sdk(self) -> LiveSdk | None:
        """Where the live API is reached through the vendor's SDK instead of HTTP + token."""
        ...

    def fetch_sdk(self, target: str) -> RawT:
        """Read the same raw records through the vendor's SDK (where ``live_sdk`` says so)."""
        ...

    def normalize(self, raw: RawT) -> list[Batch]:
        """Map raw records to canonical records, one batch per account. Pure."""
        ...

    def format(self, format_id: str) -> ExportFormat: ...

    def revoke_steps(self, credential: CredentialRef) -> tuple[str, ...] | None:
        """How a person revokes this credential in the system, or None for the generic steps."""
        ...

    def rotation_steps(self, credential: CredentialRef) -> list[str] | None:
        """How a person rotates it: new secret first, switch over, disable, delete. None: generic.

        The core appends the step that verifies the rotation by re-ingesting the source.
        """
        ...


class ConnectorBase(Generic[RawT]):
    """Shared defaults for a connector: no live API, no credential steps of its own."""

    id: ClassVar[str]
    formats: ClassVar[tuple[ExportFormat, ...]]
    live_api: ClassVar[LiveApi | None] = None
    live_sdk: ClassVar[LiveSdk | None] = None
    reports_last_use: ClassVar[bool] = False
    providers: ClassVar[tuple[str, ...]] = ()

    def fetch_live(self, client: httpx.Client, target: str) -> RawT:
        raise InvalidInput(f"{self.id} has no live API; export the files instead", field="live")

    def fetch_sdk(self, target: str) -> RawT:
        raise InvalidInput(f"{self.id} has no live API; export the files instead", field="live")

    def format(self, format_id: str) -> ExportFormat:
        for candidate in self.formats:
            if candidate.id == format_id:
                return candidate
        raise KeyError(format_id)

    def revoke_steps(self, credential: CredentialRef) -> tuple[str, ...] | None:
        return None

    def rotation_steps(self, credential: CredentialRef) -> list[str] | None:
        return None


# -- live API helpers -----------------------------------------------------------------------
def get_json(client: httpx.Client, url: str, **params: Any) -> tuple[Any, httpx.Response]:
    """GET JSON, turning HTTP and transport failures into :class:`LiveApiError`."""
    try:
        response = client.get(url, params=params or None)
    except httpx.HTTPError as exc:
        raise LiveApiError(f"cannot reach {url}: {exc}", field="live") from exc
    if response.status_code >= 400:
        detail = response.text[:300].replace("\n", " ")
        raise LiveApiError(f"{url} answered HTTP {response.status_code}: {detail}", field="live")
    try:
        return response.json(), response
    except ValueError as exc:
        raise LiveApiError(f"{url} did not answer JSON", field="live") from exc


def live_records(
    pages: Callable[[], Iterator[tuple[str, Any]]], pick: Callable[[Any], Iterable[Any]]
) -> Stream[Rec]:
    """Records from a paginated API: ``pages`` yields (url, body); ``pick`` the items."""

    def run() -> Iterator[Rec]:
        index = 0
        for url, body in pages():
            for item in pick(body):
                yield Rec(f"{url} [{index}]", item)
                index += 1

    return Stream(run)
