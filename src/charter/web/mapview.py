"""The access map as an interactive picture: agents → credentials → identities → systems.

Drawn from the estate map service's :class:`~charter.services.map.graph.Graph`
as inline SVG. Boxes are coloured by risk (with the reasons in their tooltip);
every edge is focusable, says why it exists in its tooltip, and shows that
reason in the page's detail panel when clicked or focused (``console.js``).
Clicking an agent draws its blast radius; clicking a system shows who can
reach it. Columns are ordered by the barycentre of their neighbours so edges
cross less; each column is capped so a huge estate stays readable (the page
says what was left out). Every label is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from charter.services.map.graph import EdgeKind, Graph, Node, NodeKind, Risk

COLUMNS = (NodeKind.AGENT, NodeKind.CREDENTIAL, NodeKind.IDENTITY, NodeKind.SYSTEM)
HEADINGS = ("Agents", "Credentials", "Identities", "Systems")
BOX_W, BOX_H, GAP, COL_GAP, TOP, LEFT = 230, 32, 10, 80, 40, 12
FILL = {
    Risk.HIGH: ("#fde7e4", "#b3261e"),
    Risk.MEDIUM: ("#fff3d6", "#8a5a00"),
    Risk.LOW: ("#e3f3e8", "#1e7a3c"),
    Risk.NONE: ("#e8eef7", "#3d5a80"),
}


@dataclass(frozen=True, slots=True)
class MapPicture:
    svg: str
    shown: int
    hidden: int


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _columns(graph: Graph, cap: int) -> tuple[list[list[Node]], int]:
    columns: list[list[Node]] = [[] for _ in COLUMNS]
    for node in graph.nodes.values():
        if node.kind in COLUMNS:
            columns[COLUMNS.index(node.kind)].append(node)
    columns[0].sort(key=lambda n: (-n.risk.rank, n.id))
    neighbours: dict[str, list[str]] = {}
    for edge in graph.edges:
        neighbours.setdefault(edge.source, []).append(edge.target)
        neighbours.setdefault(edge.target, []).append(edge.source)
    hidden = 0
    for index in range(len(columns)):
        placed = {n.id: i for c in range(index) for i, n in enumerate(columns[c])}

        def centre(node: Node, fallback: int, placed: dict[str, int] = placed) -> float:
            spots = [placed[m] for m in neighbours.get(node.id, ()) if m in placed]
            return sum(spots) / len(spots) if spots else float(fallback + 10_000)

        if index:
            keyed = [(centre(n, i), n.id, n) for i, n in enumerate(columns[index])]
            columns[index] = [n for _, _, n in sorted(keyed, key=lambda k: (k[0], k[1]))]
        if len(columns[index]) > cap:
            hidden += len(columns[index]) - cap
            columns[index] = columns[index][:cap]
    return columns, hidden


def _href(node: Node, link_systems: bool) -> str | None:
    if node.kind == NodeKind.AGENT:
        return f"/map?agent={quote(node.id, safe='')}"
    if node.kind == NodeKind.SYSTEM and link_systems:
        return f"/map?system={quote(node.id, safe='')}"
    return None


def render_map(graph: Graph, *, label: str, cap: int = 60, link_systems: bool = True) -> MapPicture:
    """The picture; ``link_systems=False`` for readers who may not open a system's view."""
    columns, hidden = _columns(graph, cap)
    where: dict[str, tuple[float, float]] = {}
    rows = max((len(c) for c in columns), default=0)
    width = LEFT * 2 + len(COLUMNS) * BOX_W + (len(COLUMNS) - 1) * COL_GAP
    height = TOP + max(1, rows) * (BOX_H + GAP) + 20
    for c, column in enumerate(columns):
        x = LEFT + c * (BOX_W + COL_GAP)
        for r, node in enumerate(column):
            where[node.id] = (x, TOP + r * (BOX_H + GAP))
    parts = [
        f'<svg class="map" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(label)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for c, heading in enumerate(HEADINGS):
        x = LEFT + c * (BOX_W + COL_GAP)
        parts.append(
            f'<text x="{x}" y="{TOP - 14}" font-size="13" font-weight="700" '
            f'fill="#4f5b6b">{_e(heading)} ({len(columns[c])})</text>'
        )
    for edge in graph.edges:
        if edge.source not in where or edge.target not in where:
            continue
        (x1, y1), (x2, y2) = where[edge.source], where[edge.target]
        if x1 > x2:
            (x1, y1), (x2, y2) = (x2, y2), (x1, y1)
        start_x, end_x = x1 + BOX_W, x2
        if start_x > end_x:  # same column (e.g. one secret in two places): loop on the right
            start_x, end_x = x1 + BOX_W, x2 + BOX_W
        sy, ey = y1 + BOX_H / 2, y2 + BOX_H / 2
        bend = max(40.0, (end_x - start_x) / 2)
        target = graph.nodes.get(edge.target)
        risky = target is not None and target.risk == Risk.HIGH
        reason = edge.reason
        if edge.resource:
            reason += f" — on {edge.resource}"
        if edge.permissions:
            reason += " — " + ", ".join(edge.permissions[:12])
            if len(edge.permissions) > 12:
                reason += f" (+{len(edge.permissions) - 12} more)"
        escalates = edge.kind == EdgeKind.ESCALATES
        parts.append(
            f'<path class="edge{" risk" if risky else ""}{" escalation" if escalates else ""}" '
            f'tabindex="0" '
            f'd="M{start_x:.0f},{sy:.0f} C{start_x + bend:.0f},{sy:.0f} {end_x - bend:.0f},{ey:.0f}'
            f' {end_x:.0f},{ey:.0f}" data-from="{_e(edge.source)}" data-to="{_e(edge.target)}" '
            f'data-reason="{_e(reason)}"><title>{_e(edge.kind.value)}: {_e(reason)}</title></path>'
        )
    for column in columns:
        for node in column:
            bx, by = where[node.id]
            fill, stroke = FILL[node.risk]
            dashed = ' stroke-dasharray="5 3"' if node.detail.get("shadow") else ""
            tip = f"{node.kind.value} {node.id}"
            if node.reasons:
                tip += " — risk " + node.risk.value + ": " + "; ".join(node.reasons)
            box = (
                f'<rect x="{bx:.0f}" y="{by:.0f}" width="{BOX_W}" height="{BOX_H}" rx="5" '
                f'fill="{fill}" stroke="{stroke}" stroke-width="1.6"{dashed}/>'
                f'<text x="{bx + 9:.0f}" y="{by + 20:.0f}" '
                f'font-size="12.5">{_e(_short(node.label))}</text>'
            )
            body = f"<title>{_e(tip)}</title>{box}"
            href = _href(node, link_systems)
            if href:
                parts.append(f'<a href="{_e(href)}" aria-label="{_e(tip)}">{body}</a>')
            else:
                parts.append(f"<g>{body}</g>")
    parts.append("</svg>")
    shown = sum(len(c) for c in columns)
    return MapPicture("".join(parts), shown, hidden)
