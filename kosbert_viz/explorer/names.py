"""Theme names on the explorer's map, placed as the report places them, following the map's pan and zoom.

jupyter-scatter's own ``label()`` draws from a Latin glyph atlas (its kerning table grows with the square of
the highest code point, so Hangul does not fit), so the names are an HTML layer over its canvas, drawn by
``static/map_names.js`` with the report's placement rule (:mod:`kosbert_viz.viz.labels`): every theme of the
level shown is named, largest first, none covers another, and the next level's names appear where they
fit, so zooming in shows more.

>>> lv = [ThemeLevel(np.array([0, 0, 1, 1]), {0: "배송", 1: "환불"})]
>>> [c["text"] for c in name_candidates(np.array([[0, 0], [1, 0], [5, 5], [6, 5]]), lv, 0)]
['배송', '환불']
"""

from __future__ import annotations

import functools
import secrets
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from kosbert_viz.explorer.levels import ThemeLevel
from kosbert_viz.maps.levels import MAX_SUBTHEME_NAMES
from kosbert_viz.viz.labels import label_candidates, label_script

if TYPE_CHECKING:
    import anywidget

__all__ = ["name_candidates", "map_names"]


def name_candidates(xy, levels: list[ThemeLevel], level: int) -> list[dict]:
    """The names the explorer's map may show: the themes of ``levels[level]``, then those of the next level
    (while it has at most ``MAX_SUBTHEME_NAMES`` themes, as on the report's map)."""
    shown = levels[level]
    sub = levels[level + 1] if level + 1 < len(levels) else None
    if sub is not None and len(np.unique(sub.codes[sub.codes >= 0])) > MAX_SUBTHEME_NAMES:
        sub = None
    return label_candidates(
        np.asarray(xy)[:, :2],
        shown.codes,
        shown.names,
        None if sub is None else sub.codes,
        None if sub is None else sub.names,
    )


@functools.cache
def _names_widget():
    import anywidget
    import traitlets

    static = resources.files("kosbert_viz.explorer") / "static"

    class MapNames(anywidget.AnyWidget):
        """The names layer of one jupyter-scatter map (``view_sync``: the map's view-sync id)."""

        _esm = label_script() + "\n" + (static / "map_names.js").read_text(encoding="utf-8")
        _css = (static / "map_names.css").read_text(encoding="utf-8")
        labels = traitlets.List([]).tag(sync=True)
        view_sync = traitlets.Unicode("").tag(sync=True)
        x_domain = traitlets.List([0.0, 1.0]).tag(sync=True)
        y_domain = traitlets.List([0.0, 1.0]).tag(sync=True)

    return MapNames


def map_names(scatter, candidates: list[dict]) -> anywidget.AnyWidget:
    """The names widget for ``scatter`` (a ``jscatter.Scatter``); show it in the same box as the map.

    When the page has drawn the layer, the map's view is reset to its start (so that the map publishes it).
    It gives the map a view-sync id of its own, so that the map publishes its view changes (jupyter-scatter
    then also follows another map with the same id: the same notebook open in two browser tabs pans together).
    """
    sync = scatter.widget.view_sync or f"kosbert-viz-{secrets.token_hex(8)}"
    scatter.widget.view_sync = sync
    layer = _names_widget()(
        labels=list(candidates),
        view_sync=sync,
        x_domain=[float(v) for v in scatter.widget.x_scale_domain],
        y_domain=[float(v) for v in scatter.widget.y_scale_domain],
    )

    def on_msg(_widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("event") == "canvas":
            scatter.widget.reset_view()  # the map publishes the view it starts with

    layer.on_msg(on_msg)
    return layer
