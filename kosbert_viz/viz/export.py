"""Static PNG / SVG / PDF export of figures with a font that has Hangul.

Kaleido (>= 1) renders the figure in a headless Chrome/Chromium. That browser draws a Hangul
syllable as a box (tofu) unless a font with Hangul is installed, so :func:`save_image`
checks for one first (Debian/Ubuntu: ``apt-get install fonts-noto-cjk``) and puts it at
the front of the figure's font stack.

>>> fig = tm.figure                 # any plotly figure, e.g. kv.map_texts(...).figure
>>> fonts = kv.viz.export.hangul_fonts()   # e.g. ('Noto Sans CJK KR', ...); () when none is installed
>>> kv.save_image(fig, "map.png", scale=2)   # needs kaleido and Chromium  # doctest: +SKIP
PosixPath('map.png')
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from kosbert_viz._util.extras import require
from kosbert_viz.exceptions import HangulFontMissing
from kosbert_viz.viz.labels import figure_labels
from kosbert_viz.viz.scatter import HANGUL_FONT, place_names

__all__ = ["save_image", "hangul_fonts", "HangulFontMissing"]

_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")


@lru_cache(maxsize=1)
def hangul_fonts() -> tuple[str, ...]:
    """Font families installed on this machine that cover Korean (via fontconfig's ``fc-list``).

    Returns an empty tuple when none is installed or ``fc-list`` is absent.
    """
    if not shutil.which("fc-list"):
        return ()
    try:
        out = subprocess.run(["fc-list", ":lang=ko", "family"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    families = set()
    for line in out.splitlines():
        for fam in line.split(","):
            if fam.strip():
                families.add(fam.strip())
    preferred = [f for f in HANGUL_FONT.split(", ") if f in families]
    return tuple(preferred + sorted(families - set(preferred)))


def _has_hangul(fig_dict) -> bool:
    import json

    return bool(_HANGUL.search(json.dumps(fig_dict, ensure_ascii=False)))


def save_image(
    fig,
    path,
    *,
    format: str | None = None,
    width: int | None = None,
    height: int | None = None,
    scale: float = 2,
    font_family: str | None = None,
    require_hangul_font: bool = True,
) -> Path:
    """Write ``fig`` as PNG, JPEG, WebP, SVG or PDF (from the suffix or ``format``) via kaleido.

    The first installed Hangul font (Noto Sans CJK KR from Debian's ``fonts-noto-cjk``,
    Noto Sans KR, NanumGothic, ...) is put first in every font of the figure, or
    ``font_family`` if given. If the figure has Hangul text and no installed font covers it,
    :class:`HangulFontMissing` is raised instead of writing an image full of boxes
    (``require_hangul_font=False`` writes it anyway). WebGL traces (Scattergl) are drawn
    as SVG scatter traces, which every headless browser can rasterise.

    Kaleido finds Chrome/Chromium on the PATH (Debian: ``apt-get install chromium``) or a copy
    installed with ``plotly_get_chrome``; ``BROWSER_PATH`` overrides both.
    """
    require(
        "kaleido", extra="export", feature="static image export", conda="conda install -c conda-forge python-kaleido"
    )
    import plotly.graph_objects as go

    path = Path(path)
    fmt = (format or path.suffix.lstrip(".") or "png").lower()
    fig_dict = fig.to_dict() if hasattr(fig, "to_dict") else dict(fig)
    family = font_family
    if family is None:
        fonts = hangul_fonts()
        if not fonts and require_hangul_font and _has_hangul(fig_dict):
            raise HangulFontMissing(
                "this figure has Hangul text but no installed font covers Korean, so the image would show "
                "boxes. Install one: apt-get install fonts-noto-cjk (Debian/Ubuntu), dnf install "
                "google-noto-sans-cjk-fonts (Fedora), or pass font_family= with an installed Korean font."
            )
        family = f"{fonts[0]}, {HANGUL_FONT}" if fonts else HANGUL_FONT
    out = go.Figure(fig_dict)
    data = [
        go.Scatter({k: v for k, v in t.to_plotly_json().items() if k != "type"}) if t.type == "scattergl" else t
        for t in out.data
    ]
    out = go.Figure(data=data, layout=out.layout)
    if figure_labels(out.layout.meta):  # a map: its names placed for this size
        place_names(out, width=width or out.layout.width or 700, height=height or out.layout.height or 500)
    _refont(out, family)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.write_image(str(path), format=fmt, width=width, height=height, scale=scale)
    return path


def _refont(fig, family: str) -> None:
    """Set ``family`` on the layout font and on every explicit font in the figure."""
    fig.update_layout(
        font_family=family, hoverlabel_font_family=family, legend_font_family=family, title_font_family=family
    )
    for ann in fig.layout.annotations or ():
        ann.font.family = family
    for trace in fig.data:
        if hasattr(trace, "textfont"):
            trace.textfont.family = family
