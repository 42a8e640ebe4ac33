"""Map names that never cover each other: which names a map shows, how big, and where.

Every theme of the level shown is named (largest first, sized by its share of the texts, never under
``MIN_FONT_PX``); then the next level's names wherever they still fit, largest first. A name sits on its
theme's centre when it can; otherwise it moves to the nearest free spot around it (rings of growing
radius) and a thin leader line points back; a name is never drawn over another or across the plot edge.
A name of the level shown that finds no free spot shrinks to its first word at the smallest size, and
in a plot too full even for that is drawn at its least-crowded spot (never dropped, unless the plot is
smaller than the word); a sub-theme name that finds no free spot waits for a zoom.

The same rule runs twice: here, in Python, for the figure as stored (static exports, a first paint that
is already readable), and in the page (``static/labels.js``) at the real size of the plot and after every
zoom, where the next level's names appear as they fit. Both measure text the same way (:func:`text_width`).

>>> xy = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.1, 10.0]])
>>> cands = label_candidates(xy, np.array([0, 0, 1, 1]), {0: "배송", 1: "환불"})
>>> boxes = place_labels(cands, (0.0, 10.1), (0.0, 10.0), width=400, height=300)
>>> [b["text"] for b in boxes], overlaps([b["box"] for b in boxes])
(['배송', '환불'], 0)
"""

from __future__ import annotations

import functools
import math
from importlib import resources

import numpy as np

__all__ = [
    "MIN_FONT_PX",
    "MAX_FONT_PX",
    "MAX_WORDS",
    "label_candidates",
    "text_width",
    "place_labels",
    "overlaps",
    "axis_ranges",
    "fit_aspect",
    "figure_labels",
    "label_script",
]

MIN_FONT_PX = 11  # no name is drawn smaller
MAX_FONT_PX = 18  # the largest theme's name
SUB_FONT_PX = 11  # the next level's names
MAX_WORDS = 3  # words of a name on the map (all keywords go to the hover and the tables)
PAD_PX = 3  # space kept around each name (its halo)
RINGS = 8  # rings of candidate spots tried around a theme's centre (177 spots)
FALLBACK_SPOTS = 30  # spots scored by crowding for a theme name that finds no free one
LEADER_FROM_PX = 6  # a name moved further than this from its centre gets a leader line


def _short(name: str) -> str:
    """At most MAX_WORDS keywords of a "a · b · c · d" name (or words of a free-text name)."""
    name = str(name)
    sep = " · " if " · " in name else " "
    parts = [p for p in name.split(sep) if p]
    return sep.join(parts[:MAX_WORDS]) if len(parts) > MAX_WORDS else name


def label_candidates(xy, labels, names: dict, sublabels=None, subnames: dict | None = None) -> list[dict]:
    """The names a map may show, in the order they are placed: every theme of ``labels`` (largest first),
    then every theme of ``sublabels``. Each: x, y (the median of its points), text, level (0 = shown,
    1 = next), share of the texts, font size in px."""
    xy = np.asarray(xy, np.float64)[:, :2]
    n = max(len(xy), 1)
    out = []
    # a sub-theme holding all of its theme's texts, or named as its theme, repeats that theme's name: not drawn
    repeats = set()
    if labels is not None and sublabels is not None:
        lab, sub = np.asarray(labels), np.asarray(sublabels)
        coarse_size = dict(zip(*np.unique(lab, return_counts=True)))
        for c in np.unique(sub[sub >= 0]).tolist():
            members = lab[sub == c]
            parents, counts = np.unique(members, return_counts=True)
            parent = parents[np.argmax(counts)]
            drawn = _short((subnames or {}).get(c, f"theme {c}"))  # as the two would be drawn
            same_name = drawn == _short(names.get(int(parent), f"theme {int(parent)}"))
            if (len(parents) == 1 and coarse_size.get(parent) == len(members)) or same_name:
                repeats.add(int(c))
    for level, (lab, nm) in enumerate(((labels, names), (sublabels, subnames or {}))):
        if lab is None:
            continue
        lab = np.asarray(lab)
        ids, counts = np.unique(lab[lab >= 0], return_counts=True)
        top = counts.max(initial=1)
        order = np.lexsort((ids, -counts))
        for j in order:
            c, size = int(ids[j]), int(counts[j])
            if level == 1 and c in repeats:
                continue
            pts = xy[lab == c]
            pts = pts[np.isfinite(pts).all(axis=1)]
            if not len(pts):
                continue
            med = np.median(pts, axis=0)
            if level == 0:
                font = MIN_FONT_PX + (MAX_FONT_PX - MIN_FONT_PX) * math.sqrt(size / top)
            else:
                font = SUB_FONT_PX
            out.append(
                {
                    "x": float(med[0]),
                    "y": float(med[1]),
                    "text": _short(nm.get(c, f"theme {c}")),
                    "level": level,
                    "theme": c,
                    "share": size / n,
                    "font": round(float(font), 1),
                }
            )
    return out


def _char_em(ch: str) -> float:
    o = ord(ch)
    if 0x1100 <= o <= 0x11FF or 0x3000 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7A3 or 0xF900 <= o <= 0xFFEF:
        return 1.0  # Hangul, CJK, full width
    if ch == " ":
        return 0.3
    if ch in "·.,:;'|!il":
        return 0.35
    return 0.62 if ch.isupper() or ch.isdigit() else 0.56


def text_width(text: str, font_px: float) -> float:
    """Estimated width in px of ``text`` at ``font_px`` (Noto Sans CJK metrics, rounded up)."""
    return sum(_char_em(ch) for ch in text) * font_px


def _box(cx: float, cy: float, w: float, h: float) -> tuple[float, float, float, float]:
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _hits(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def overlaps(boxes: list) -> int:
    """How many pairs of boxes (x0, y0, x1, y1) intersect."""
    return sum(_hits(boxes[i], boxes[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes)))


def _step(h: float) -> float:
    """The rings' step: h to 0.1 px, rounded half up (as the page's Math.round does)."""
    return math.floor(h * 10 + 0.5) / 10


@functools.cache
def _offsets(step: float) -> list[tuple[float, float]]:
    """Candidate centre offsets (px): the centre, then rings of 8, 12, 16 ... spots, nearest first."""
    out = [(0.0, 0.0)]
    for r in range(1, RINGS + 1):
        k = 8 + 4 * (r - 1)
        out += [
            (r * step * math.cos(2 * math.pi * i / k), r * step * 0.8 * math.sin(2 * math.pi * i / k)) for i in range(k)
        ]
    return out


class _Grid:
    """Placed boxes in a uniform grid of cells: a collision test looks at a few cells, not at every box."""

    def __init__(self, cell: float = 64.0):
        self.cell, self.cells = cell, {}

    def _keys(self, b):
        c = self.cell
        for i in range(int(b[0] // c), int(b[2] // c) + 1):
            for j in range(int(b[1] // c), int(b[3] // c) + 1):
                yield (i, j)

    def free(self, b) -> bool:
        return not any(_hits(b, o) for k in self._keys(b) for o in self.cells.get(k, ()))

    def crowd(self, b) -> int:
        return sum(_hits(b, o) for k in self._keys(b) for o in self.cells.get(k, ()))

    def add(self, b) -> None:
        for k in self._keys(b):
            self.cells.setdefault(k, []).append(b)


def _far_spot(grid: _Grid, ax: float, ay: float, w: float, h: float, width: float, height: float, inset: float):
    """The free spot nearest (ax, ay) on a lattice over the whole plot area (step: half the name's height)."""
    if w > width - 2 * inset or h > height - 2 * inset:
        return None
    step = max(h / 2, 4.0)  # half a name's height, and both edges, so names pack side by side
    xs = np.r_[np.arange(inset + w / 2, width - inset - w / 2, step), width - inset - w / 2]
    ys = np.r_[np.arange(inset + h / 2, height - inset - h / 2, step), height - inset - h / 2]
    gx, gy = np.meshgrid(xs, ys)
    gx, gy = gx.ravel(), gy.ravel()
    for i in np.argsort((gx - ax) ** 2 + (gy - ay) ** 2, kind="stable"):
        b = _box(float(gx[i]), float(gy[i]), w, h)
        if grid.free(b):
            return (float(gx[i]) - ax, float(gy[i]) - ay, b)
    return None


def _near_spot(grid: _Grid, ax: float, ay: float, w: float, h: float, width: float, height: float, inset: float):
    """(the nearest free spot on the rings around (ax, ay) or None, the least-crowded of the first spots)."""
    fallback, fewest = None, None
    for k, (dx, dy) in enumerate(_offsets(_step(h))):
        b = _box(ax + dx, ay + dy, w, h)
        if b[0] < inset or b[1] < inset or b[2] > width - inset or b[3] > height - inset:
            continue
        if grid.free(b):
            return (dx, dy, b), None
        if k < FALLBACK_SPOTS:
            crowd = grid.crowd(b)
            if fewest is None or crowd < fewest:
                fewest, fallback = crowd, (dx, dy, b)
    return None, fallback


def place_labels(
    candidates: list[dict], xrange, yrange, *, width: float, height: float, inset: float = 0.0
) -> list[dict]:
    """Positions (px from the plot area's top left) for ``candidates`` in a plot area of ``width`` x ``height``
    px showing data ``xrange`` x ``yrange``. Returns the names drawn, each with its candidate's fields plus
    ``px``, ``py`` (its centre), ``ax``, ``ay`` (px from its theme's centre), ``leader`` and ``box``.

    A theme's name tries its rings, then the whole plot (leader line), then its first word at ``MIN_FONT_PX``
    (a plot too small for every full name); in a plot too full for that it is drawn, short, at its
    least-crowded spot, and only a plot smaller than that word leaves it out. A sub-theme's name tries its rings only. ``inset``: px kept free along the edges (where
    the plot area's size is an estimate)."""
    x0, x1 = xrange
    y0, y1 = yrange
    sx, sy = width / max(x1 - x0, 1e-12), height / max(y1 - y0, 1e-12)
    grid, placed = _Grid(), []
    for cand in candidates:
        ax_px, ay_px = (cand["x"] - x0) * sx, (y1 - cand["y"]) * sy
        if not (0 <= ax_px <= width and 0 <= ay_px <= height):
            continue  # its theme is outside the view (zoomed in elsewhere)
        variants = [(cand["text"], cand["font"])]
        if cand["level"] == 0:
            first = cand["text"].split(" · ")[0].split(" ")[0] if " · " in cand["text"] else cand["text"]
            variants.append((first, MIN_FONT_PX))
        best, fallback = None, None
        for i, (text, font) in enumerate(variants):
            w, h = text_width(text, font) + 2 * PAD_PX, font * 1.25 + 2 * PAD_PX
            best, crowded = _near_spot(grid, ax_px, ay_px, w, h, width, height, inset)
            if crowded is not None:
                fallback = (crowded, text, font)  # the last (smallest) variant's least-crowded spot
            if best is None and cand["level"] == 0:
                best = _far_spot(grid, ax_px, ay_px, w, h, width, height, inset)  # anywhere free, leader line
            if best is not None:
                break
        if best is None and cand["level"] == 0 and fallback is not None:
            best, text, font = fallback  # the plot is full: its least-crowded spot (a theme's name is never dropped)
        if best is None:
            continue  # a sub-theme's name waits for a zoom
        dx, dy, b = best
        grid.add(b)
        placed.append(
            {
                **cand,
                "text": text,
                "font": font,
                "px": ax_px + dx,
                "py": ay_px + dy,
                "ax": dx,
                "ay": dy,
                "leader": math.hypot(dx, dy) > LEADER_FROM_PX,
                "box": b,
            }
        )
    return placed


def axis_ranges(xy) -> tuple[tuple[float, float], tuple[float, float]]:
    """The data's x and y ranges with 4% padding (the stored figure's view)."""
    finite = xy[:, :2][np.isfinite(xy[:, :2]).all(axis=1)]
    if not len(finite):
        return (-1.0, 1.0), (-1.0, 1.0)
    lo, hi = finite.min(axis=0), finite.max(axis=0)
    pad = np.maximum((hi - lo) * 0.04, 1e-9)
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0])), (float(lo[1] - pad[1]), float(hi[1] + pad[1]))


def fit_aspect(xr, yr, w: float, h: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The ranges plotly shows in a w x h area with one data unit as long on both axes (scaleanchor):
    the axis with room to spare is widened about its centre."""
    dx, dy = xr[1] - xr[0], yr[1] - yr[0]
    if dx / w > dy / h:
        half = dx * h / w / 2
        mid = (yr[0] + yr[1]) / 2
        return xr, (mid - half, mid + half)
    half = dy * w / h / 2
    mid = (xr[0] + xr[1]) / 2
    return (mid - half, mid + half), yr


def figure_labels(meta) -> list:
    """The name candidates a ``cluster_map`` figure stores in ``layout.meta`` (plotly allows any value
    there: a list, a string ...; only ours is a dict with "kosbert_viz")."""
    ours = meta.get("kosbert_viz") if isinstance(meta, dict) else None
    return (ours.get("labels") or []) if isinstance(ours, dict) else []


@functools.cache
def label_script() -> str:
    """The page's copy of the rule (``static/labels.js``): defines ``window.kvLabels``."""
    return (resources.files("kosbert_viz.viz") / "static" / "labels.js").read_text(encoding="utf-8")
