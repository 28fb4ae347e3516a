"""The landscape: every domain as a box and every integration between them as an arrow named by its pattern.

Built from the specification models of the domains (:mod:`interlink.specs.collect`), so the diagram shows
what the declarations say. Arrows go from who starts the exchange: the publisher to the subscriber of an
event, the caller to the provider of an API, the issuer to the target of a command event (its reply comes
back dashed), the source of a file to the domain that takes it. :func:`mermaid` writes it as a Mermaid
flowchart; :mod:`interlink.specs.diagram` draws it as SVG.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from interlink.specs.model import API_EXPOSURE, COMMAND_EVENT, INBOUND_FILE, PATTERNS, DomainSpec

__all__ = ["Edge", "Landscape", "Node", "build_landscape", "mermaid"]

NodeKind = Literal["domain", "files", "system"]


@dataclass(frozen=True)
class Node:
    """A box: a domain of the landscape, a source of files, or a system outside the landscape."""

    id: str
    label: str
    kind: NodeKind
    description: str = ""


@dataclass
class Edge:
    """An arrow: one integration, with the messages, resources or files it carries."""

    source: str
    target: str
    pattern: str
    details: list[str] = field(default_factory=list)
    reply: bool = False

    @property
    def title(self) -> str:
        """What people call the pattern (``notification``, ``API call``...), ``reply`` for a confirmation."""
        name = PATTERNS.get(self.pattern, self.pattern)
        return f"{name} reply" if self.reply else name

    @property
    def dashed(self) -> bool:
        """Messages through the broker are dashed, calls and files solid, as in the seed's diagrams."""
        return self.pattern not in (API_EXPOSURE, INBOUND_FILE)


@dataclass
class Landscape:
    """The boxes and arrows of a set of domains."""

    nodes: list[Node]
    edges: list[Edge]

    def node(self, id: str) -> Node:
        """The box with this id."""
        return next(n for n in self.nodes if n.id == id)


def build_landscape(specs: Sequence[DomainSpec]) -> Landscape:
    """The landscape of these domains; an API or a publisher outside them becomes a system box."""
    domains = {s.name for s in specs}
    nodes: dict[str, Node] = {s.name: Node(s.name, s.name, "domain", s.description) for s in specs}
    edges: dict[tuple[str, str, str, bool], Edge] = {}

    def connect(source: str, target: str, pattern: str | None, detail: str, reply: bool = False) -> None:
        for end in (source, target):
            if end not in nodes:
                nodes[end] = Node(end, end, "system", "outside this landscape")
        edge = edges.setdefault((source, target, pattern or "event", reply), Edge(source, target, pattern or "event"))
        edge.reply = reply
        if detail and detail not in edge.details:
            edge.details.append(detail)

    for spec in specs:
        for op in spec.operations:
            if op.peer is None or op.peer == spec.name:
                continue
            names = ", ".join(m.name for m in op.messages)
            if op.action == "receive":
                connect(op.peer, spec.name, op.pattern, names)
            else:
                connect(spec.name, op.peer, op.pattern, names)
            if op.reply is not None and op.action == "send":
                replies = ", ".join(m.name for m in op.reply.messages)
                connect(op.peer, spec.name, op.pattern or COMMAND_EVENT, replies, reply=True)
        for link in spec.links:
            for end in (link.source, link.target):
                if end not in domains and end not in nodes:
                    kind: NodeKind = "files" if link.pattern == INBOUND_FILE else "system"
                    label = f"{link.external} files" if kind == "files" and link.external else end
                    nodes[end] = Node(end, label, kind, link.label if kind == "files" else "outside this landscape")
            connect(link.source, link.target, link.pattern, link.label)
    return Landscape(list(nodes.values()), list(edges.values()))


_ID = re.compile(r"[^A-Za-z0-9_]")


def _mermaid_id(id: str) -> str:
    return "n_" + _ID.sub("_", id)


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def mermaid(landscape: Landscape) -> str:
    """A Mermaid flowchart: domains as rounded boxes, file sources as documents, arrows labelled."""
    lines = ["flowchart LR"]
    for node in landscape.nodes:
        text = _mermaid_text(node.label)
        if node.kind == "domain":
            lines.append(f'  {_mermaid_id(node.id)}("{text}"):::domain')
        elif node.kind == "files":
            lines.append(f'  {_mermaid_id(node.id)}[/"{text}"/]:::files')
        else:
            lines.append(f'  {_mermaid_id(node.id)}["{text}"]:::system')
    for edge in landscape.edges:
        label = _mermaid_text(f"{edge.title}: {', '.join(edge.details)}" if edge.details else edge.title)
        arrow = "-.->" if edge.dashed else "-->"
        lines.append(f'  {_mermaid_id(edge.source)} {arrow}|"{label}"| {_mermaid_id(edge.target)}')
    lines += [
        "  classDef domain fill:#f8c06b,stroke:#c08a35,color:#222",
        "  classDef files fill:#fbea8a,stroke:#999,color:#222",
        "  classDef system fill:#e6e6e6,stroke:#999,color:#222",
    ]
    return "\n".join(lines) + "\n"
