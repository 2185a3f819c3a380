"""Scanning bytes: prefilter, confirm, resolve overlaps, place on lines.

One ``ContentScanner`` per process holds the compiled prefilter for every
detector and every code signal. Files are read in chunks with an overlap, so a
10 GB log costs two chunks of memory, and a secret that straddles a chunk
boundary is found exactly once: each chunk only *accepts* findings that start
in its own range, and carries enough bytes forward for the next to see them
whole.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from charter.discovery.scan.checks import sha256_hex
from charter.discovery.scan.detector import Detector, Refined
from charter.discovery.scan.prefilter import Prefilter, Probe, build_prefilter
from charter.domain.enums import Severity

CHUNK = 8 * 1024 * 1024
#: Longest span a finding (or the window that confirms it) may cover past its start.
OVERLAP = 64 * 1024
#: Context a finding may need before its start (an AWS secret above its key id).
CONTEXT = 8 * 1024
ALLOW_MARKER = b"charter:allow"


@dataclass(frozen=True, slots=True)
class Signal:
    """A fact about code worth recording (an import, an environment variable read).

    Found by the same prefilter pass as secrets; ``pattern`` extracts ``value``
    from a window after the hit.
    """

    id: str
    probe: str
    pattern: str
    window_after: int = 240
    caseless: bool = False
    regex: re.Pattern[bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern.encode()))


@dataclass(frozen=True, slots=True)
class SecretHit:
    """A confirmed secret in one file: fingerprint and place, never the value."""

    detector: str
    fingerprint: str
    preview: str
    line: int
    column: int
    severity: Severity
    allowed: bool = False  # an inline ``charter:allow`` on its line or the line above
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SignalHit:
    signal: str
    value: str
    line: int


@dataclass(slots=True)
class ContentResult:
    secrets: list[SecretHit] = field(default_factory=list)
    signals: list[SignalHit] = field(default_factory=list)
    valid_utf8: bool = True


@dataclass(frozen=True, slots=True)
class _Candidate:
    detector: Detector
    refined: Refined


def _overlaps(a: Refined, b: Refined) -> bool:
    return a.start < b.end and b.start < a.end


def _resolve(candidates: list[_Candidate]) -> list[_Candidate]:
    """Where findings overlap, keep the most specific: priority, then the longer span."""
    ranked = sorted(
        candidates,
        key=lambda c: (-c.detector.priority, -(c.refined.end - c.refined.start), c.refined.start),
    )
    kept: list[_Candidate] = []
    for candidate in ranked:
        if not any(_overlaps(candidate.refined, k.refined) for k in kept):
            kept.append(candidate)
    return sorted(kept, key=lambda c: c.refined.start)


class _Lines:
    """Line and column of ascending offsets, counting newlines once."""

    def __init__(self, data: bytes, lines_before: int) -> None:
        self._data = data
        self._offset = 0
        self._line = lines_before + 1

    def at(self, offset: int) -> tuple[int, int]:
        if offset < self._offset:  # rare: out-of-order anchor; count from the start
            self._line -= self._data.count(b"\n", offset, self._offset)
        else:
            self._line += self._data.count(b"\n", self._offset, offset)
        self._offset = offset
        column = offset - (self._data.rfind(b"\n", 0, offset) + 1) + 1
        return self._line, column


class ContentScanner:
    def __init__(
        self,
        detectors: Sequence[Detector],
        signals: Sequence[Signal] = (),
        *,
        engine: str | None = None,
    ) -> None:
        self.detectors = tuple(detectors)
        self.signals = tuple(signals)
        probes = [Probe(d.prefilter, d.prefilter_caseless) for d in self.detectors]
        probes += [Probe(s.probe, s.caseless) for s in self.signals]
        self.prefilter: Prefilter = build_prefilter(probes, engine)

    @property
    def engine(self) -> str:
        return self.prefilter.name

    # -- one buffer -------------------------------------------------------------------
    def scan_buffer(
        self,
        data: bytes,
        *,
        accept: tuple[int, int] | None = None,
        lines_before: int = 0,
        result: ContentResult | None = None,
    ) -> ContentResult:
        """Scan ``data``; keep findings whose anchor lies in ``accept`` (default: all)."""
        result = result if result is not None else ContentResult()
        lo, hi = accept if accept is not None else (0, len(data))
        hits = self.prefilter.scan(data)
        if not hits:
            return result
        by_probe: dict[int, list[int]] = defaultdict(list)
        for probe, start in hits:
            by_probe[probe].append(start)
        candidates: list[_Candidate] = []
        signal_hits: list[tuple[int, str, str]] = []
        n_detectors = len(self.detectors)
        for probe, starts in by_probe.items():
            if probe < n_detectors:
                candidates.extend(self._confirm(self.detectors[probe], data, starts))
            else:
                signal = self.signals[probe - n_detectors]
                signal_hits.extend(self._extract(signal, data, starts, lo, hi))
        events: list[tuple[int, int, Any]] = []
        for candidate in _resolve(candidates):
            anchor = candidate.refined.anchor
            anchor = candidate.refined.start if anchor is None else anchor
            if lo <= anchor < hi:
                events.append((anchor, 0, candidate))
        events.extend((offset, 1, (sid, value)) for offset, sid, value in signal_hits)
        events.sort(key=lambda e: (e[0], e[1]))
        lines = _Lines(data, lines_before)
        for offset, kind, payload in events:
            line, column = lines.at(offset)
            if kind == 0:
                result.secrets.append(self._hit(payload, data, offset, line, column))
            else:
                result.signals.append(SignalHit(payload[0], payload[1], line))
        return result

    def _confirm(self, detector: Detector, data: bytes, starts: list[int]) -> list[_Candidate]:
        """Run the detector's regex on merged windows around its prefilter hits."""
        starts.sort()
        windows: list[list[int]] = []
        for start in starts:
            lo = max(0, start - detector.window_before)
            hi = min(len(data), start + detector.window_after)
            if windows and lo <= windows[-1][1]:
                windows[-1][1] = max(windows[-1][1], hi)
            else:
                windows.append([lo, hi])
        found: dict[int, _Candidate] = {}
        for lo, hi in windows:
            for match in detector.regex.finditer(data, lo, hi):
                if match.end() >= hi and hi < len(data):
                    continue  # cut off by the window: not a whole token
                refined = detector.confirm(data, match)
                if refined is not None and refined.start not in found:
                    found[refined.start] = _Candidate(detector, refined)
        return list(found.values())

    @staticmethod
    def _extract(
        signal: Signal, data: bytes, starts: list[int], lo: int, hi: int
    ) -> list[tuple[int, str, str]]:
        out: list[tuple[int, str, str]] = []
        for start in starts:
            if not lo <= start < hi:
                continue
            match = signal.regex.match(data, start, min(len(data), start + signal.window_after))
            if match:
                value = match.group("value").decode("utf-8", "replace")
                out.append((match.start("value"), signal.id, value))
        return out

    @staticmethod
    def _hit(candidate: _Candidate, data: bytes, offset: int, line: int, column: int) -> SecretHit:
        detector, refined = candidate.detector, candidate.refined
        line_start = data.rfind(b"\n", 0, offset) + 1
        previous_start = data.rfind(b"\n", 0, max(0, line_start - 1)) + 1
        line_end = data.find(b"\n", offset)
        context = data[previous_start : len(data) if line_end < 0 else line_end]
        return SecretHit(
            detector=detector.id,
            fingerprint=sha256_hex(refined.secret),
            preview=detector.preview(refined),
            line=line,
            column=column,
            severity=refined.severity or detector.severity,
            allowed=ALLOW_MARKER in context,
            properties=dict(refined.properties),
        )

    # -- a stream ---------------------------------------------------------------------
    def scan_stream(self, stream: BinaryIO, first: bytes | None = None) -> ContentResult:
        """Scan a file of any size in chunks; ``first`` is a chunk already read."""
        result = ContentResult()
        decoder = _Utf8Check()
        base = accepted = lines_at_base = 0
        tail = b""
        chunk = first if first is not None else stream.read(CHUNK)
        while True:
            buffer = tail + chunk
            last = len(chunk) < CHUNK
            if not last:
                following = stream.read(CHUNK)
                last = not following
            else:
                following = b""
            decoder.feed(chunk, final=last)
            end = base + len(buffer) if last else base + len(buffer) - OVERLAP
            self.scan_buffer(
                buffer,
                accept=(accepted - base, end - base),
                lines_before=lines_at_base,
                result=result,
            )
            if last:
                break
            next_base = end - CONTEXT
            lines_at_base += buffer.count(b"\n", 0, next_base - base)
            tail = buffer[next_base - base :]
            base, accepted, chunk = next_base, end, following
        result.valid_utf8 = decoder.valid
        return result


class _Utf8Check:
    """Whether a stream is valid UTF-8, decoding only the chunks that are not ASCII."""

    def __init__(self) -> None:
        import codecs

        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.valid = True

    def feed(self, chunk: bytes, *, final: bool) -> None:
        if not self.valid:
            return
        if chunk.isascii():
            if final:
                self._finish()
            return
        try:
            self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError:
            self.valid = False

    def _finish(self) -> None:
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            self.valid = False
