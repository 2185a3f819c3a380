"""The estate graph as GraphML (the GraphML Primer, graphdrawing.org), for Gephi,
yEd or NetworkX.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from charter.services.map.graph import Graph

NS = "http://graphml.graphdrawing.org/xmlns"
_NODE_KEYS = (
    ("kind", "string"),
    ("label", "string"),
    ("risk", "string"),
    ("risk_reasons", "string"),
)
_EDGE_KEYS = (
    ("edge_kind", "string"),
    ("reason", "string"),
    ("resource", "string"),
    ("permissions", "string"),
)


def render_graphml(graph: Graph) -> str:
    ET.register_namespace("", NS)
    root = ET.Element(f"{{{NS}}}graphml")
    for name, kind in _NODE_KEYS:
        ET.SubElement(
            root, f"{{{NS}}}key", {"id": name, "for": "node", "attr.name": name, "attr.type": kind}
        )
    for name, kind in _EDGE_KEYS:
        ET.SubElement(
            root, f"{{{NS}}}key", {"id": name, "for": "edge", "attr.name": name, "attr.type": kind}
        )
    body = ET.SubElement(root, f"{{{NS}}}graph", {"id": "estate", "edgedefault": "directed"})
    for node in graph.nodes.values():
        element = ET.SubElement(body, f"{{{NS}}}node", {"id": node.id})
        for key, value in (
            ("kind", node.kind.value),
            ("label", node.label),
            ("risk", node.risk.value),
            ("risk_reasons", "; ".join(node.reasons)),
        ):
            ET.SubElement(element, f"{{{NS}}}data", {"key": key}).text = value
    for index, edge in enumerate(graph.edges):
        element = ET.SubElement(
            body, f"{{{NS}}}edge", {"id": f"e{index}", "source": edge.source, "target": edge.target}
        )
        for key, value in (
            ("edge_kind", edge.kind.value),
            ("reason", edge.reason),
            ("resource", edge.resource),
            ("permissions", " ".join(edge.permissions)),
        ):
            if value:
                ET.SubElement(element, f"{{{NS}}}data", {"key": key}).text = value
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
