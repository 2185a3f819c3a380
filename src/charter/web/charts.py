"""Charts as inline SVG, drawn on the server: no chart library, nothing to download.

Every text and attribute value is escaped here (:func:`html.escape`), because
the result is inserted into pages as markup. Each bar is a link to the list
behind it and carries a ``<title>`` (the tooltip screen readers also read);
the chart as a whole has ``role="img"`` and an ``aria-label`` saying what it shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Bar", "bar_chart", "day_columns", "stacked_bar"]

PALETTE = {
    "critical": "#7f1d1d",
    "high": "#b3261e",
    "medium": "#b7791f",
    "low": "#3d5a80",
    "info": "#6b7b8c",
    "active": "#1e7a3c",
    "proposed": "#1f5fbf",
    "discovered": "#6a4fb3",
    "suspended": "#b7791f",
    "decommissioned": "#7a828c",
}
INK = "#1b2330"
MUTED = "#4f5b6b"
ACCENT = "#1f5fbf"


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    href: str | None = None
    colour: str | None = None


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _link(href: str | None, body: str, title: str) -> str:
    inner = f"<title>{_e(title)}</title>{body}"
    if not href:
        return f"<g>{inner}</g>"
    return f'<a href="{_e(href)}">{inner}</a>'


def bar_chart(bars: Sequence[Bar], *, label: str, width: int = 520, unit: str = "") -> str:
    """Horizontal bars, longest first as given; each one a link."""
    longest = max((min(len(b.label), 34) for b in bars), default=8)
    row, gap, right = 24, 6, 60
    left = int(min(width * 0.55, 7.8 * longest + 14))
    height = max(1, len(bars)) * (row + gap) + gap
    peak = max((b.value for b in bars), default=0) or 1
    scale = (width - left - right) / peak
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    if not bars:
        parts.append(f'<text x="8" y="20" fill="{MUTED}">nothing to show yet</text>')
    for i, bar in enumerate(bars):
        y = gap + i * (row + gap)
        length = max(2.0, bar.value * scale) if bar.value else 0.0
        name = bar.label if len(bar.label) <= 34 else bar.label[:33] + "…"
        body = (
            f'<text x="{left - 8}" y="{y + row * 0.7:.1f}" text-anchor="end" '
            f'font-size="13">{_e(name)}</text>'
            f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{row}" rx="3" '
            f'fill="{_e(bar.colour or ACCENT)}"/>'
            f'<text x="{left + length + 6:.1f}" y="{y + row * 0.7:.1f}" font-size="13" '
            f'font-weight="600">{bar.value:,}{_e(unit)}</text>'
        )
        parts.append(_link(bar.href, body, f"{bar.label}: {bar.value:,}{unit}"))
    parts.append("</svg>")
    return "".join(parts)


def day_columns(
    days: Sequence[tuple[dt.date, int]],
    *,
    label: str,
    href: str | None = None,
    width: int = 560,
    height: int = 180,
) -> str:
    """One column per day (e.g. findings opened), with a baseline and a few date ticks."""
    left, bottom, top = 36, 26, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max((n for _, n in days), default=0)
    ceiling = max(1, peak)
    step = plot_w / max(1, len(days))
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" '
        f'stroke="{MUTED}" stroke-width="1"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" font-size="11" '
        f'fill="{MUTED}">{ceiling:,}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11" '
        f'fill="{MUTED}">0</text>',
    ]
    for i, (day, n) in enumerate(days):
        x = left + i * step + 1
        h = plot_h * n / ceiling
        body = (
            f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(1.0, step - 2):.1f}" '
            f'height="{h:.1f}" fill="{ACCENT}"/>'
        )
        parts.append(_link(href, body, f"{day.isoformat()}: {n:,}"))
        if i % 7 == 0 or (i == len(days) - 1 and i % 7 >= 4):
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{height - 8}" text-anchor="middle" '
                f'font-size="11" fill="{MUTED}">{_e(day.strftime("%d %b"))}</text>'
            )
    if peak == 0:
        parts.append(
            f'<text x="{left + 8}" y="{top + plot_h / 2:.1f}" fill="{MUTED}" '
            'font-size="13">none in this period</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar(bars: Sequence[Bar], *, label: str, width: int = 520) -> str:
    """One bar split into parts (e.g. agents by state), each part a link, with a legend."""
    total = sum(b.value for b in bars)
    height = 64
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    x = 0.0
    for bar in bars:
        if not bar.value:
            continue
        w = width * bar.value / total
        body = (
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="26" '
            f'fill="{_e(bar.colour or PALETTE.get(bar.label, ACCENT))}"/>'
        )
        parts.append(_link(bar.href, body, f"{bar.label}: {bar.value:,}"))
        x += w
    if not total:
        parts.append(f'<rect x="0" y="0" width="{width}" height="26" fill="#e5e8ed"/>')
    lx = 0
    for bar in bars:
        colour = bar.colour or PALETTE.get(bar.label, ACCENT)
        text = f"{bar.label} {bar.value:,}"
        parts.append(
            f'<rect x="{lx}" y="40" width="12" height="12" rx="2" fill="{_e(colour)}"/>'
            f'<text x="{lx + 16}" y="51" font-size="12" fill="{INK}">{_e(text)}</text>'
        )
        lx += 24 + 7 * len(text)
    parts.append("</svg>")
    return "".join(parts)
