"""The estate map: blast radius, who can reach what, shared secrets; JSON, GraphML and SVG."""

from charter.services.map.graph import Edge, EdgeKind, Graph, Node, NodeKind, Risk
from charter.services.map.graphml import render_graphml
from charter.services.map.service import EstateMapService, Reach
from charter.services.map.svg import render_svg

__all__ = [
    "Edge",
    "EdgeKind",
    "EstateMapService",
    "Graph",
    "Node",
    "NodeKind",
    "Reach",
    "Risk",
    "render_graphml",
    "render_svg",
]
