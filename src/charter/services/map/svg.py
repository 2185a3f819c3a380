"""Draw the estate graph as a standalone SVG a person can read — no graph library needed.

A layered layout: four columns (agents → credentials → identities → systems),
each column ordered by the barycentre of its neighbours (two sweeps, the
classic Sugiyama heuristic) so edges cross less. Boxes are coloured by risk;
shadow agents have a dashed border; every box and edge carries a ``<title>``
(the tooltip says why it is there and why it is coloured so).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from charter.services.map.graph import EdgeKind, Graph, Node, NodeKind, Risk

COLUMNS = (NodeKind.AGENT, NodeKind.CREDENTIAL, NodeKind.IDENTITY, NodeKind.SYSTEM)
HEADINGS = ("Agents", "Credentials", "Identities", "Systems")
BOX_W, BOX_H, GAP, COL_GAP, TOP, LEFT = 250, 34, 10, 90, 120, 30
MAX_PER_COLUMN = 120
FILL = {
    Risk.HIGH: ("#fde2e1", "#c62828"),
    Risk.MEDIUM: ("#fff4d6", "#b7791f"),
    Risk.LOW: ("#e6f4ea", "#2e7d32"),
    Risk.NONE: ("#e8eef7", "#3b5b8c"),
}
EDGE = {
    EdgeKind.ACTS_AS: "#6b7280",
    EdgeKind.AUTHENTICATES: "#6b7280",
    EdgeKind.GRANT: "#3b5b8c",
    EdgeKind.ASSUMES: "#7c3aed",
    EdgeKind.SAME_SECRET: "#c62828",
    EdgeKind.ESCALATES: "#d9480f",
}


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _order(graph: Graph) -> list[list[Node]]:
    columns: list[list[Node]] = [[] for _ in COLUMNS]
    for node in graph.nodes.values():
        columns[COLUMNS.index(node.kind)].append(node)
    columns[0].sort(key=lambda n: (bool(n.detail.get("shadow")), n.id))
    neighbours: dict[str, set[str]] = {}
    for edge in graph.edges:
        neighbours.setdefault(edge.source, set()).add(edge.target)
        neighbours.setdefault(edge.target, set()).add(edge.source)

    def centre(node: Node, placed: dict[str, int], fallback: int) -> float:
        spots = [placed[m] for m in neighbours.get(node.id, ()) if m in placed]
        return sum(spots) / len(spots) if spots else float(fallback)

    def sweep(order: range, *, down: bool) -> None:
        for index in order:
            placed = {
                n.id: i
                for c, col in enumerate(columns)
                if (c < index if down else c > index)
                for i, n in enumerate(col)
            }
            keyed = [(centre(n, placed, i), n.id, n) for i, n in enumerate(columns[index])]
            columns[index] = [n for _, _, n in sorted(keyed, key=lambda k: (k[0], k[1]))]

    for _ in range(2):
        sweep(range(1, len(COLUMNS)), down=True)
        sweep(range(len(COLUMNS) - 2, -1, -1), down=False)
    sweep(range(1, len(COLUMNS)), down=True)
    return [col[:MAX_PER_COLUMN] for col in columns]


def render_svg(graph: Graph, *, title: str = "Charter estate map") -> str:
    """The SVG document (a string) for ``graph``."""
    columns = _order(graph)
    tallest = max((len(c) for c in columns), default=0)
    height = TOP + max(tallest, 1) * (BOX_H + GAP) + 60
    width = LEFT * 2 + len(COLUMNS) * BOX_W + (len(COLUMNS) - 1) * COL_GAP
    where: dict[str, tuple[float, float]] = {}
    parts: list[str] = []
    for c, column in enumerate(columns):
        x = LEFT + c * (BOX_W + COL_GAP)
        offset = (tallest - len(column)) * (BOX_H + GAP) / 2
        for r, node in enumerate(column):
            where[node.id] = (x, TOP + offset + r * (BOX_H + GAP))
    edges: list[str] = []
    for edge in graph.edges:
        if edge.source not in where or edge.target not in where:
            continue
        (x1, y1), (x2, y2) = where[edge.source], where[edge.target]
        colour = EDGE[edge.kind]
        admin = edge.kind == EdgeKind.GRANT and any(p in ("*", "*:*") for p in edge.permissions)
        if x2 > x1:
            sx, sy, tx, ty = x1 + BOX_W, y1 + BOX_H / 2, x2, y2 + BOX_H / 2
            bend = (tx - sx) / 2
            c1x, c2x = sx + bend, tx - bend
        else:  # same column (assumes, same secret) or backwards: loop out to the right
            sx, sy, tx, ty = x1 + BOX_W, y1 + BOX_H / 2, x2 + BOX_W, y2 + BOX_H / 2
            out = 40 + abs(ty - sy) / 6
            c1x, c2x = sx + out, tx + out
        d = f"M{sx:.0f},{sy:.0f} C{c1x:.0f},{sy:.0f} {c2x:.0f},{ty:.0f} {tx:.0f},{ty:.0f}"
        label = edge.reason + (f"\nresource: {edge.resource}" if edge.resource else "")
        if edge.permissions:
            label += f"\npermissions: {', '.join(edge.permissions[:12])}" + (
                " …" if len(edge.permissions) > 12 else ""
            )
        dash = (
            ' stroke-dasharray="5 4"'
            if edge.kind in (EdgeKind.ASSUMES, EdgeKind.SAME_SECRET)
            else ' stroke-dasharray="9 3 2 3"'
            if edge.kind == EdgeKind.ESCALATES
            else ""
        )
        stroke, stroke_width = ("#c62828", 2.2) if admin else (colour, 1.3)
        if edge.kind == EdgeKind.ESCALATES:
            stroke, stroke_width = colour, 2.4
        edges.append(
            f'<path d="{d}" fill="none" stroke="{stroke}" stroke-width="{stroke_width}" '
            f'stroke-opacity="0.55"{dash} marker-end="url(#arrow)">'
            f"<title>{escape(label)}</title></path>"
        )
    for c, column in enumerate(columns):
        x = LEFT + c * (BOX_W + COL_GAP)
        hidden = sum(1 for n in graph.nodes.values() if n.kind == COLUMNS[c]) - len(column)
        parts.append(
            f'<text x="{x}" y="{TOP - 18}" class="h">{HEADINGS[c]} ({len(column) + hidden})</text>'
        )
        for node in column:
            nx, ny = where[node.id]
            fill, stroke = FILL[node.risk]
            dash = ' stroke-dasharray="6 3"' if node.detail.get("shadow") else ""
            sub = _subtitle(node)
            tip = f"{node.kind.value}: {node.id}" + "".join(f"\n• {r}" for r in node.reasons)
            agent = node.kind == NodeKind.AGENT
            box_width, label_class = (2, "a") if agent else (1.2, "n")
            parts.append(
                f"<g><title>{escape(tip)}</title>"
                f'<rect x="{nx}" y="{ny:.0f}" width="{BOX_W}" height="{BOX_H}" rx="6" '
                f'fill="{fill}" stroke="{stroke}" stroke-width="{box_width}"{dash}/>'
                f'<text x="{nx + 8}" y="{ny + 15:.0f}" class="{label_class}">'
                f"{escape(_short(node.label, 34))}</text>"
                f'<text x="{nx + 8}" y="{ny + 28:.0f}" class="s">'
                f"{escape(_short(sub, 44))}</text></g>"
            )
        if hidden > 0:
            y = TOP + len(column) * (BOX_H + GAP) + 14
            parts.append(
                f'<text x="{x}" y="{y}" class="s">'
                f"… and {hidden} more (use a query to see them)</text>"
            )
    legend = _legend(width)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">'
        "<style>.h{font-size:15px;font-weight:700;fill:#1f2937}.n{font-size:12px;fill:#111827}"
        ".a{font-size:12.5px;font-weight:700;fill:#111827}.s{font-size:10px;fill:#4b5563}"
        ".t{font-size:20px;font-weight:700;fill:#111827}.l{font-size:11px;fill:#374151}</style>"
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
        'markerHeight="6" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6b7280"/></marker></defs>'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>'
        f'<text x="{LEFT}" y="34" class="t">{escape(title)}</text>{legend}'
        + "".join(edges)
        + "".join(parts)
        + "</svg>\n"
    )


def _subtitle(node: Node) -> str:
    detail = node.detail
    if node.kind == NodeKind.AGENT:
        state = "shadow · " if detail.get("shadow") else f"{detail.get('state', '')} · "
        owner = detail.get("owner")
        return state + (
            str(owner) if owner and not str(owner).startswith("unowned@") else "no owner"
        )
    if node.kind == NodeKind.IDENTITY:
        return (
            f"{detail.get('source', '')} {str(detail.get('kind', '')).replace('_', ' ')}".strip()
            or node.id
        )
    if node.kind == NodeKind.CREDENTIAL:
        return str(detail.get("kind", "")).replace("_", " ") + (
            f" · {node.reasons[0]}" if node.reasons else ""
        )
    return node.id


def _legend(width: int) -> str:
    items = [
        ("high risk", Risk.HIGH),
        ("medium", Risk.MEDIUM),
        ("low", Risk.LOW),
        ("system", Risk.NONE),
    ]
    x = LEFT
    out = []
    for label, risk in items:
        fill, stroke = FILL[risk]
        out.append(
            f'<rect x="{x}" y="52" width="16" height="12" rx="3" fill="{fill}" stroke="{stroke}"/>'
            f'<text x="{x + 22}" y="62" class="l">{label}</text>'
        )
        x += 110
    out.append(
        f'<rect x="{x}" y="52" width="16" height="12" rx="3" fill="#fff" stroke="#111" '
        'stroke-dasharray="4 2"/>'
        f'<text x="{x + 22}" y="62" class="l">shadow agent</text>'
    )
    out.append(
        f'<text x="{LEFT}" y="84" class="l">Arrows: agent → what it acts as → what that reaches. '
        "Purple dashed: assumes another identity; red dashed: the same secret in two places; "
        "orange dash-dot: can escalate to (become) another identity or the account's admin. "
        "Hover a box or an arrow to see why.</text>"
    )
    return "".join(out)
