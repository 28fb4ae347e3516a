"""The landscape drawn as SVG (and as one self-contained HTML page), in the seed's visual language.

Domains are orange rounded boxes with the domain glyph, file sources yellow documents with a wavy foot,
systems outside the landscape grey; arrows are grey, dashed for messages through the broker and solid for
API calls and files, each labelled with its pattern. Boxes are laid out in columns by the flow of data:
who provides comes left of who uses (an API's provider left of its caller, a publisher left of its
subscribers). Nothing is fetched at view time: no script or font from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from textwrap import wrap

from interlink.specs.landscape import Edge, Landscape, Node
from interlink.specs.model import API_EXPOSURE, PATTERNS

__all__ = ["html_page", "svg"]

MARGIN, TOP = 40, 70
GAP_X, GAP_Y = 250, 60
SIZES = {"domain": (190, 84), "files": (170, 66), "system": (170, 56)}
FILL = {"domain": ("#f8c06b", "#c08a35"), "files": ("#fbea8a", "#8c8c8c"), "system": ("#e6e6e6", "#8c8c8c")}
ARROW = "#7a7a7a"
FONT = "Helvetica, Arial, sans-serif"


@dataclass(frozen=True)
class Box:
    """Where a node is drawn."""

    x: float
    y: float
    w: float
    h: float
    column: int

    @property
    def cy(self) -> float:
        """Its vertical middle."""
        return self.y + self.h / 2


def _flow(edge: Edge) -> tuple[str, str]:
    """Who provides the data, then who uses it: an API's provider feeds its caller."""
    return (edge.target, edge.source) if edge.pattern == API_EXPOSURE else (edge.source, edge.target)


def _columns(landscape: Landscape) -> dict[str, int]:
    """Longest path along the flow of data, ignoring the edges that would close a cycle."""
    ids = [n.id for n in landscape.nodes]
    flows = sorted({_flow(e) for e in landscape.edges if e.source != e.target})
    fed = {b for _, b in flows}
    order = [i for i in ids if i not in fed] + [i for i in ids if i in fed]
    state: dict[str, int] = {}
    forward: list[tuple[str, str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        for a, b in flows:
            if a == node:
                if state.get(b) == 1:
                    continue  # would close a cycle: drawn, but not ranked
                forward.append((a, b))
                if b not in state:
                    visit(b)
        state[node] = 2

    for node in order:
        if node not in state:
            visit(node)
    column = dict.fromkeys(ids, 0)
    for _ in ids:
        for a, b in forward:
            column[b] = max(column[b], column[a] + 1)
    for node in ids:  # a pure source (a file drop, say) stands just before what it feeds
        if node not in fed:
            fed_columns = [column[b] for a, b in flows if a == node]
            column[node] = max(0, min(fed_columns, default=1) - 1)
    return column


def _layout(landscape: Landscape) -> tuple[dict[str, Box], float, float]:
    column = _columns(landscape)
    by_column: dict[int, list[Node]] = {}
    for node in landscape.nodes:
        by_column.setdefault(column[node.id], []).append(node)
    heights = {c: sum(SIZES[n.kind][1] for n in nodes) + GAP_Y * (len(nodes) - 1) for c, nodes in by_column.items()}
    tallest = max(heights.values(), default=0)
    widest = max(w for w, _ in SIZES.values())
    boxes: dict[str, Box] = {}
    for c, nodes in sorted(by_column.items()):
        y = TOP + (tallest - heights[c]) / 2
        for node in nodes:
            w, h = SIZES[node.kind]
            boxes[node.id] = Box(MARGIN + c * (widest + GAP_X) + (widest - w) / 2, y, w, h, c)
            y += h + GAP_Y
    width = MARGIN * 2 + (max(by_column, default=0) + 1) * widest + max(by_column, default=0) * GAP_X
    return boxes, width, TOP + tallest + MARGIN


def _node(node: Node, box: Box) -> str:
    fill, stroke = FILL[node.kind]
    x, y, w, h = box.x, box.y, box.w, box.h
    if node.kind == "files":
        shape = (
            f'<path d="M{x},{y} H{x + w} V{y + h - 10} Q{x + w * 0.75},{y + h - 22} {x + w / 2},{y + h - 10} '
            f'T{x},{y + h - 10} Z" fill="{fill}" stroke="{stroke}"/>'
        )
    else:
        radius = 10 if node.kind == "domain" else 4
        shape = f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{radius}" fill="{fill}" stroke="{stroke}"/>'
    glyph = ""
    if node.kind == "domain":  # the seed's domain glyph: four small squares in the top right corner
        gx, gy = x + w - 20, y + 7
        glyph = "".join(
            f'<rect x="{gx + dx}" y="{gy + dy}" width="5" height="5" fill="none" stroke="#5a4a2a" stroke-width="0.8"/>'
            for dx in (0, 6)
            for dy in (0, 6)
        )
    lines = wrap(node.description, 30)[:2]
    text = [f'<text x="{x + w / 2}" y="{y + 26}" font-weight="bold" font-size="14">{escape(node.label)}</text>']
    text += [
        f'<text x="{x + w / 2}" y="{y + 46 + 14 * i}" font-size="11">{escape(line)}</text>'
        for i, line in enumerate(lines)
    ]
    return (
        f'<g class="node {node.kind}" data-check="node" data-kind="{node.kind}" data-name="{escape(node.id)}" '
        f'text-anchor="middle"><title>{escape(node.label)}: {escape(node.description)}</title>'
        f"{shape}{glyph}{''.join(text)}</g>"
    )


def _edge(edge: Edge, boxes: dict[str, Box], offset: float) -> str:
    s, t = boxes[edge.source], boxes[edge.target]
    y1, y2 = s.cy + offset, t.cy + offset
    if s.column == t.column:  # same column: bulge out to the right
        x1, x2 = s.x + s.w, t.x + t.w
        c1, c2 = (x1 + 90, y1), (x2 + 90, y2)
    else:
        x1 = s.x + s.w if s.column < t.column else s.x
        x2 = t.x if s.column < t.column else t.x + t.w
        dx = (x2 - x1) / 2
        c1, c2 = (x1 + dx, y1), (x2 - dx, y2)
    mx = (x1 + 3 * c1[0] + 3 * c2[0] + x2) / 8
    my = (y1 + 3 * c1[1] + 3 * c2[1] + y2) / 8
    dash = ' stroke-dasharray="7 5"' if edge.dashed else ""
    detail = ", ".join(edge.details)
    short = detail if len(detail) <= 38 else detail[:36] + "..."
    width = max(len(edge.title) * 7.0, len(short) * 6.0) + 14
    return (
        f'<g class="integration" data-check="integration" data-source="{escape(edge.source)}" '
        f'data-target="{escape(edge.target)}" data-pattern="{escape(edge.pattern)}" '
        f'data-reply="{str(edge.reply).lower()}">'
        f"<title>{escape(edge.source)} to {escape(edge.target)}: {escape(edge.title)} ({escape(detail)})</title>"
        f'<path d="M{x1},{y1} C{c1[0]},{c1[1]} {c2[0]},{c2[1]} {x2},{y2}" fill="none" stroke="{ARROW}" '
        f'stroke-width="1.4"{dash} marker-end="url(#arrow)"/>'
        f'<rect x="{mx - width / 2}" y="{my - 16}" width="{width}" height="{32 if short else 20}" rx="4" '
        f'fill="#ffffff" fill-opacity="0.92" stroke="#bdbdbd"/>'
        f'<text x="{mx}" y="{my - 2}" text-anchor="middle" font-size="12" font-weight="bold">'
        f"{escape(edge.title)}</text>"
        + (f'<text x="{mx}" y="{my + 12}" text-anchor="middle" font-size="10">{escape(short)}</text>' if short else "")
        + "</g>"
    )


def svg(landscape: Landscape, title: str = "Landscape") -> str:
    """The landscape as one SVG document."""
    boxes, width, height = _layout(landscape)
    pairs: dict[frozenset[str], list[Edge]] = {}
    for edge in landscape.edges:
        pairs.setdefault(frozenset((edge.source, edge.target)), []).append(edge)
    drawn = []
    for edges in pairs.values():
        step = min(44.0, 80 / len(edges))
        for i, edge in enumerate(edges):
            drawn.append(_edge(edge, boxes, (i - (len(edges) - 1) / 2) * step))
    nodes = [_node(n, boxes[n.id]) for n in landscape.nodes]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'font-family="{FONT}" role="img" aria-label="{escape(title)}">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{ARROW}"/></marker></defs>'
        f'<rect x="6" y="6" width="{width - 12}" height="{height - 12}" fill="#ececec" stroke="#9a9a9a"/>'
        f'<text x="16" y="28" font-size="13" fill="#222">{escape(title)}</text>'
        f"{''.join(nodes)}{''.join(drawn)}</svg>\n"
    )


_CHECK = """<script>
// Record where each box and arrow was drawn, so a headless browser's DOM shows they are on the page.
for (const el of document.querySelectorAll("[data-check]")) {
  const b = el.getBBox();
  el.setAttribute("data-box", [b.x, b.y, b.width, b.height].map(Math.round).join(" "));
}
</script>"""


def html_page(landscape: Landscape, title: str = "Landscape") -> str:
    """One self-contained HTML page: the SVG, a legend and the list of integrations."""
    label = {n.id: n.label for n in landscape.nodes}
    rows = "".join(
        f"<tr><td>{escape(label[e.source])}</td><td>{escape(label[e.target])}</td><td>{escape(e.title)}</td>"
        f"<td><code>{escape(e.pattern)}</code></td><td>{escape(', '.join(e.details))}</td></tr>"
        for e in landscape.edges
    )
    legend = "".join(f"<li><code>{escape(k)}</code>: {escape(v)}</li>" for k, v in PATTERNS.items())
    if any(e.pattern == "event" for e in landscape.edges):
        legend += (
            "<li><code>event</code>: a plain subscription (<code>@domain.on</code>): the subscriber's handler "
            "decides what it does with the event, so no pattern is named</li>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: {FONT}; margin: 1.5em; color: #222; }}
svg {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; margin-top: 1em; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; font-size: 0.9em; }}
.legend {{ font-size: 0.9em; color: #444; }}
</style></head>
<body>
<h1>{escape(title)}</h1>
{svg(landscape, title)}
<p class="legend">Solid arrows: API calls and files. Dashed arrows: messages through the broker (events,
command events and their replies). Orange: domains; yellow: file sources; grey: systems outside the landscape.</p>
<ul class="legend">{legend}</ul>
<table><thead><tr><th>from</th><th>to</th><th>integration</th><th>pattern</th><th>carries</th></tr></thead>
<tbody>{rows}</tbody></table>
{_CHECK}
</body></html>
"""
