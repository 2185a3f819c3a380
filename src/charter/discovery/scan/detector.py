"""What a secret detector is, and the registry every detector joins.

A detector self-describes (id, title, provider, credential kind, severity, OWASP
mapping, remediation, references) so the CLI, the SARIF rules and the docs are
generated from it, and a contract test lints every registered one.

Matching is two-stage. ``prefilter`` is a short regex that a multi-pattern
engine (hyperscan, or RE2) runs over whole files at once; it must be cheap and
selective — a literal prefix plus a few body characters, or a keyword. Only
where it hits does ``pattern`` (Python ``re``, with a ``secret`` group) run, on
a window of ``window_before``/``window_after`` bytes around the hit, followed by
the checks that reject placeholders, documented examples, low entropy and bad
checksums.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from charter.discovery.scan import checks
from charter.domain.enums import CredentialKind, Severity

#: OWASP Non-Human Identities Top 10 (2025): the risks a leaked secret maps to.
NHI_RISKS = {
    "NHI2": "Secret Leakage",
    "NHI5": "Overprivileged NHI",
    "NHI7": "Long-Lived Secrets",
}


@dataclass(frozen=True, slots=True)
class Refined:
    """A confirmed secret inside a buffer: what to fingerprint and where it is."""

    secret: bytes  # fingerprinted (SHA-256); never stored or printed
    token: bytes  # the string whose last characters the preview shows
    start: int
    end: int
    properties: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None
    preview: str | None = None  # when the detector composes its own (connection strings)
    anchor: int | None = None  # offset whose line is reported, when not ``start``


#: Turns a confirmed regex match into a finding (or rejects it); gets the whole buffer
#: so it can look around the match (an AWS secret key near its key id).
Refiner = Callable[["Detector", bytes, "re.Match[bytes]"], Refined | None]


@dataclass(frozen=True, slots=True)
class Detector:
    id: str
    title: str
    provider: str
    system: str  # the System id the credential reaches: "openai", "aws", "github"
    kind: CredentialKind
    severity: Severity
    prefilter: str
    pattern: str
    #: Literal prefixes a token starts with: shown in previews, skipped by placeholder checks.
    prefixes: tuple[str, ...]
    description: str
    remediation: str
    references: tuple[str, ...]
    owasp: tuple[str, ...] = ("NHI2",)
    prefilter_caseless: bool = False
    window_before: int = 0
    window_after: int = 512
    min_entropy: float = 0.0
    #: Needs a keyword next to the value because the format has no prefix.
    keyword_context: bool = False
    #: Extra validation of the secret (a checksum, a decodable structure).
    check: Callable[[bytes], bool] | None = None
    refine: Refiner | None = None
    #: When two findings overlap, the higher priority (more specific) one stays.
    priority: int = 0
    regex: re.Pattern[bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern.encode()))

    def confirm(self, data: bytes, match: re.Match[bytes]) -> Refined | None:
        """Apply the checks to one regex match; None when it is not a real secret."""
        if self.refine is not None:
            return self.refine(self, data, match)
        return self.default_refine(match)

    def default_refine(self, match: re.Match[bytes]) -> Refined | None:
        secret = match.group("secret")
        if not self.believable(secret):
            return None
        return Refined(secret, secret, match.start("secret"), match.end("secret"))

    def prefix_of(self, token: bytes) -> str:
        for prefix in self.prefixes:
            if token.startswith(prefix.encode()):
                return prefix
        return ""

    def believable(self, secret: bytes) -> bool:
        if checks.looks_placeholder(secret[len(self.prefix_of(secret)) :] or secret):
            return False
        if checks.is_documented_example(secret):
            return False
        if self.min_entropy and checks.shannon_entropy(secret) < self.min_entropy:
            return False
        return self.check is None or self.check(secret)

    def preview(self, refined: Refined) -> str:
        """Provider prefix + last four characters: enough to recognise, never to use."""
        if refined.preview is not None:
            return refined.preview
        prefix = self.prefix_of(refined.token) or f"{self.system}:"
        return f"{prefix}…{tail(refined.token)}"


def tail(secret: bytes) -> str:
    """The last characters a preview may show: four, fewer for short secrets (passwords)."""
    keep = 4 if len(secret) >= 16 else 2 if len(secret) >= 8 else 0
    return secret[len(secret) - keep :].decode("utf-8", "replace") if keep else ""


class Registry:
    """Detectors by id, in registration order; ids are unique."""

    def __init__(self) -> None:
        self._by_id: dict[str, Detector] = {}

    def add(self, *detectors: Detector) -> None:
        for detector in detectors:
            if detector.id in self._by_id:
                raise ValueError(f"detector {detector.id!r} registered twice")
            self._by_id[detector.id] = detector

    def get(self, detector_id: str) -> Detector:
        return self._by_id[detector_id]

    def __contains__(self, detector_id: object) -> bool:
        return detector_id in self._by_id

    def __iter__(self) -> Iterator[Detector]:
        return iter(tuple(self._by_id.values()))

    def all(self) -> tuple[Detector, ...]:
        return tuple(self._by_id.values())


REGISTRY = Registry()

# -- pattern helpers -----------------------------------------------------------------

#: A token must not continue to the left: no base62, ``_`` or ``-`` before it.
LEFT = r"(?<![A-Za-z0-9_-])"
#: …nor to the right.
RIGHT = r"(?![A-Za-z0-9_-])"
_ASSIGN = (
    r"(?:[ \t\w.\-\[\]\"']|\(\s*){0,30}?[ \t'\"]{0,3}(?:=|:=|:|=>|,|\(|\|\||\?=)"
    r"[\x60'\"\s=]{0,8}"
)


def keyword_pattern(keywords: Iterable[str], value: str) -> str:
    """``KEYWORD…= "VALUE"`` for formats without a prefix (gitleaks' "semi-generic" shape).

    The keyword, up to 30 identifier characters (``_API_KEY``, ``.Client(api_key``; a
    line break only right after an opening parenthesis, so a keyword never reaches into
    the next statement), an assignment or call operator, optional quotes, then the value
    with a right boundary. Case-insensitive on the keyword only.
    """
    alternatives = "|".join(re.escape(k) for k in keywords)
    return rf"(?i:{alternatives}){_ASSIGN}(?P<secret>{value})(?![A-Za-z0-9_+/=-])"


def keyword_prefilter(keywords: Iterable[str]) -> str:
    return "|".join(re.escape(k) for k in keywords)


def prefixed(
    *,
    id: str,
    title: str,
    provider: str,
    system: str,
    prefixes: tuple[str, ...],
    body: str,
    description: str,
    remediation: str,
    references: tuple[str, ...],
    prefilter: str | None = None,
    kind: CredentialKind = CredentialKind.API_KEY,
    severity: Severity = Severity.HIGH,
    **options: Any,
) -> Detector:
    """A detector for a token with a documented literal prefix and a fixed body shape.

    Without an explicit ``prefilter`` the literal prefixes are the prefilter, which
    suits distinctive prefixes (``sk-ant-api03-``); short ones (``hf_``) pass a
    prefilter with a few body characters so common identifiers do not hit.
    """
    alternatives = "|".join(re.escape(p) for p in prefixes)
    return Detector(
        id=id,
        title=title,
        provider=provider,
        system=system,
        kind=kind,
        severity=severity,
        prefilter=prefilter or alternatives,
        pattern=rf"{LEFT}(?P<secret>(?:{alternatives}){body}){RIGHT}",
        prefixes=prefixes,
        description=description,
        remediation=remediation,
        references=references,
        **options,
    )


def keyword_detector(
    *,
    id: str,
    title: str,
    provider: str,
    system: str,
    keywords: tuple[str, ...],
    value: str,
    description: str,
    remediation: str,
    references: tuple[str, ...],
    min_entropy: float = 3.0,
    prefixes: tuple[str, ...] = (),
    check: Callable[[bytes], bool] | None = None,
) -> Detector:
    """A detector for a prefix-less format: the keyword must sit next to the value."""
    return Detector(
        id=id,
        title=title,
        provider=provider,
        system=system,
        kind=CredentialKind.API_KEY,
        severity=Severity.HIGH,
        prefilter=keyword_prefilter(keywords),
        prefilter_caseless=True,
        pattern=keyword_pattern(keywords, value),
        prefixes=prefixes,
        description=description,
        remediation=remediation,
        references=references,
        keyword_context=True,
        min_entropy=min_entropy,
        check=check,
        window_after=320,
        priority=-5,
    )


def revoke(where: str) -> str:
    """The remediation every leaked key shares, naming where to revoke it."""
    return (
        f"Revoke the credential in {where}, issue a replacement to a secret manager or "
        "a short-lived credential, and remove it from the file and from git history."
    )
