"""The landscape drawn as SVG (and as one self-contained HTML page), in the seed's visual language.

Domains are orange rounded boxes with the domain glyph, file sources yellow documents with a wavy foot,
systems outside the landscape grey; arrows are grey, dashed for messages through the broker and solid for
API calls and files, each labelled with its pattern. Boxes are laid out in columns by the flow of data:
who provides comes left of who uses (an API's provider left of its caller, a publisher left of its
subscribers). The labels between two columns are stacked in one column of their own, never overlapping
each other or a box (the picture grows taller when they need room); each arrow runs through its label and
meets its boxes in a lane of its own. Nothing is fetched at view time: no script or font from elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from textwrap import wrap

from interlink.specs.landscape import Edge, Landscape, Node
from interlink.specs.model import API_EXPOSURE, PATTERNS

__all__ = ["box_size", "html_page", "svg", "text_width"]

MARGIN, TOP = 40, 70
GAP_X, GAP_Y = 300, 60
LABEL_GAP = 4
SIZES = {"domain": (190, 84), "files": (170, 66), "system": (170, 56)}
FILL = {"domain": ("#f8c06b", "#c08a35"), "files": ("#fbea8a", "#8c8c8c"), "system": ("#e6e6e6", "#8c8c8c")}
ARROW = "#7a7a7a"
FONT = "Helvetica, Arial, sans-serif"
#: Font sizes (px): a box's name and description, an arrow label's title and details.
NAME, DESCRIPTION, TITLE, DETAIL = 15, 12, 13, 11
#: The height of the line a label keeps free for live figures (``svg(..., figures=True)``, the console's).
FIGURES = 14


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """A generous estimate of the width of ``text`` in Helvetica at ``size`` px (no font metrics at hand)."""
    return len(text) * size * (0.62 if bold else 0.56)


def box_size(node: Node) -> tuple[float, float]:
    """A node's box: its kind's size, wider when its name needs it (the domain glyph takes the top right)."""
    w, h = SIZES[node.kind]
    return max(w, text_width(node.label, NAME, bold=True) + 52), h


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
    widest = max([w for w, _ in SIZES.values()] + [box_size(n)[0] for n in landscape.nodes])
    boxes: dict[str, Box] = {}
    for c, nodes in sorted(by_column.items()):
        y = TOP + (tallest - heights[c]) / 2
        for node in nodes:
            w, h = box_size(node)
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
    lines = wrap(node.description, int((w - 16) / (DESCRIPTION * 0.56)))[:2]
    text = [f'<text x="{x + w / 2}" y="{y + 27}" font-weight="bold" font-size="{NAME}">{escape(node.label)}</text>']
    text += [
        f'<text x="{x + w / 2}" y="{y + 47 + 15 * i}" font-size="{DESCRIPTION}">{escape(line)}</text>'
        for i, line in enumerate(lines)
    ]
    return (
        f'<g class="node {node.kind}" data-check="node" data-kind="{node.kind}" data-name="{escape(node.id)}" '
        f'text-anchor="middle"><title>{escape(node.label)}: {escape(node.description)}</title>'
        f"{shape}{glyph}{''.join(text)}</g>"
    )


@dataclass(frozen=True)
class Label:
    """Where an arrow's label is drawn: a rectangle centred on (x, y)."""

    x: float
    y: float
    w: float
    h: float

    def hits(self, x: float, y: float, w: float, h: float) -> bool:
        """Whether this label's rectangle, padded by LABEL_GAP, meets the rectangle at (x, y) of size w by h."""
        return (
            self.x - self.w / 2 - LABEL_GAP < x + w
            and x < self.x + self.w / 2 + LABEL_GAP
            and self.y - self.h / 2 - LABEL_GAP < y + h
            and y < self.y + self.h / 2 + LABEL_GAP
        )


def _texts(edge: Edge, figures: bool = False) -> tuple[str, str, float, float]:
    """An arrow's label: its title, its (shortened) details, and the size of the box holding them."""
    detail = ", ".join(edge.details)
    short = detail if len(detail) <= 32 else detail[:30] + "..."
    width = max(text_width(edge.title, TITLE, bold=True), text_width(short, DETAIL)) + 16
    return short, detail, width, (36 if short else 22) + (FIGURES if figures else 0)


def _ends(edge: Edge, boxes: dict[str, Box]) -> tuple[float, float, int]:
    """Where an arrow leaves its source and enters its target (x), and which way it runs (1 right, -1 left,
    0 a loop out to the right of one column)."""
    s, t = boxes[edge.source], boxes[edge.target]
    if s.column == t.column:
        return s.x + s.w, t.x + t.w, 0
    if s.column < t.column:
        return s.x + s.w, t.x, 1
    return s.x, t.x + t.w, -1


def _place_labels(landscape: Landscape, boxes: dict[str, Box], figures: bool = False) -> list[Label]:
    """A label per arrow, halfway along it, the labels of arrows between the same two boxes stacked in lanes;
    then greedily moved down until no label meets another label or a box."""
    pairs: dict[frozenset[str], list[int]] = {}
    for i, edge in enumerate(landscape.edges):
        pairs.setdefault(frozenset((edge.source, edge.target)), []).append(i)
    wanted: list[tuple[float, int, Label]] = []
    gaps: dict[tuple[int, int, bool], list[tuple[int, Label]]] = {}  # the labels between the same two columns
    for members in pairs.values():
        for lane, i in enumerate(members):
            edge = landscape.edges[i]
            _, _, w, h = _texts(edge, figures)
            x1, x2, way = _ends(edge, boxes)
            s, t = boxes[edge.source], boxes[edge.target]
            y = (s.cy + t.cy) / 2 + (lane - (len(members) - 1) / 2) * (h + LABEL_GAP * 2)
            label = Label(max(x1, x2) + 30 + w / 2 if way == 0 else (x1 + x2) / 2, max(y, TOP - 20 + h / 2), w, h)
            wanted.append((y, i, label))
            gaps.setdefault((min(s.column, t.column), max(s.column, t.column), way == 0), []).append((i, label))
    # the labels stacked in one gap share its middle and its widest width, so no arrow runs under another label
    column: dict[int, tuple[float, float]] = {}
    for labels in gaps.values():
        shared = (sum(label.x for _, label in labels) / len(labels), max(label.w for _, label in labels))
        column.update(dict.fromkeys((i for i, _ in labels), shared))
    placed: dict[int, Label] = {}
    solid = [(b.x, b.y, b.w, b.h) for b in boxes.values()]
    for _, i, wish in sorted(wanted, key=lambda item: (item[0], item[2].x, item[1])):
        x, w = column[i]
        label = Label(x, wish.y, w, wish.h)
        moved = True
        while moved:
            moved = False
            for left, top, width, height in solid:
                if label.hits(left, top, width, height):
                    label = Label(label.x, top + height + LABEL_GAP + label.h / 2, label.w, label.h)
                    moved = True
        placed[i] = label
        solid.append((label.x - label.w / 2, label.y - label.h / 2, label.w, label.h))
    return [placed[i] for i in range(len(landscape.edges))]


def _lanes(landscape: Landscape, boxes: dict[str, Box], labels: list[Label]) -> list[tuple[float, float]]:
    """Where each arrow meets its two boxes (y): the arrows on one side of a box spread evenly down that side,
    in the order of their labels, so they do not cross each other there."""
    sides: dict[tuple[str, float], list[tuple[float, int, int]]] = {}
    for i, edge in enumerate(landscape.edges):
        x1, x2, _ = _ends(edge, boxes)
        sides.setdefault((edge.source, x1), []).append((labels[i].y, i, 0))
        sides.setdefault((edge.target, x2), []).append((labels[i].y, i, 1))
    ends = [[0.0, 0.0] for _ in landscape.edges]
    for (node, _), members in sides.items():
        box = boxes[node]
        step = (box.h - 16) / len(members)
        for k, (_, i, end) in enumerate(sorted(members)):
            ends[i][end] = box.y + 8 + step * (k + 0.5)
    return [(a, b) for a, b in ends]


def _edge(
    edge: Edge, boxes: dict[str, Box], label: Label, ys: tuple[float, float], figures: bool = False
) -> tuple[str, str]:
    """An arrow and its label: the path runs from its source's side to the label's near edge, through the label
    (which hides it) and on from the far edge to its target's side. The label is returned apart, to be drawn
    above every arrow: no other arrow then runs over it."""
    x1, x2, way = _ends(edge, boxes)
    y1, y2 = ys
    short, detail, _, _ = _texts(edge, figures)
    left, right = label.x - label.w / 2, label.x + label.w / 2
    if way == 0:  # out to the label's left side and back
        route = (
            f"M{x1},{y1} C{x1 + 30},{y1} {left - 30},{label.y} {left},{label.y} "
            f"C{left - 30},{label.y} {x2 + 30},{y2} {x2},{y2}"
        )
    else:
        near, far = (left, right) if way == 1 else (right, left)
        bend1, bend2 = (near - x1) / 2, (x2 - far) / 2
        route = (
            f"M{x1},{y1} C{x1 + bend1},{y1} {near - bend1},{label.y} {near},{label.y} L{far},{label.y} "
            f"C{far + bend2},{label.y} {x2 - bend2},{y2} {x2},{y2}"
        )
    dash = ' stroke-dasharray="7 5"' if edge.dashed else ""
    top = label.y - label.h / 2
    return (
        f'<g class="integration" data-check="integration" data-source="{escape(edge.source)}" '
        f'data-target="{escape(edge.target)}" data-pattern="{escape(edge.pattern)}" '
        f'data-reply="{str(edge.reply).lower()}">'
        f"<title>{escape(edge.source)} to {escape(edge.target)}: {escape(edge.title)} ({escape(detail)})</title>"
        f'<path d="{route}" fill="none" stroke="{ARROW}" stroke-width="1.4"{dash} marker-end="url(#arrow)"/>'
        # The label's place, unpainted: the arrow's group spans its label, so a straight arrow has a height.
        f'<rect x="{left}" y="{top}" width="{label.w}" height="{label.h}" fill="none" stroke="none"/></g>'
    ), (
        f'<g class="integration-label" data-source="{escape(edge.source)}" data-target="{escape(edge.target)}" '
        f'data-pattern="{escape(edge.pattern)}" data-reply="{str(edge.reply).lower()}">'
        f'<rect x="{left}" y="{top}" width="{label.w}" height="{label.h}" rx="4" fill="#ffffff" stroke="#bdbdbd"/>'
        f'<text x="{label.x}" y="{top + 16}" text-anchor="middle" font-size="{TITLE}" font-weight="bold">'
        f"{escape(edge.title)}</text>"
        + (
            f'<text x="{label.x}" y="{top + 31}" text-anchor="middle" font-size="{DETAIL}">{escape(short)}</text>'
            if short
            else ""
        )
        + (
            f'<text class="figures" x="{label.x}" y="{top + label.h - 5}" text-anchor="middle" '
            f'font-size="{DETAIL}"></text>'
            if figures
            else ""
        )
        + "</g>"
    )


def svg(landscape: Landscape, title: str = "Landscape", *, figures: bool = False) -> str:
    """The landscape as one SVG document; with ``figures``, each label keeps an empty ``text.figures`` line
    at its foot, for a page to fill with the arrow's live figures."""
    boxes, width, height = _layout(landscape)
    labels = _place_labels(landscape, boxes, figures)
    lanes = _lanes(landscape, boxes, labels)
    pairs = [_edge(edge, boxes, labels[i], lanes[i], figures) for i, edge in enumerate(landscape.edges)]
    drawn = [arrow for arrow, _ in pairs] + [caption for _, caption in pairs]
    width = max([width] + [label.x + label.w / 2 + MARGIN for label in labels])
    height = max([height] + [label.y + label.h / 2 + MARGIN for label in labels])
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
