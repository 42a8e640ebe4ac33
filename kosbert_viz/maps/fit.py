"""``map_texts()``: the whole job in one call - encode, cluster, lay out, name, draw.

>>> tm = kv.map_texts(df["review"])     # a theme hierarchy; the map shows its default level
>>> tm.figure            # the interactive map
>>> tm.table             # theme names, sizes, keywords, representative texts
>>> tm.themes            # every level's themes, named (node, level, parent, ...)
>>> kv.write_report(tm, "report.html")
"""

from __future__ import annotations

import os
import time

import numpy as np

from kosbert_viz._util.validation import (
    check_embeddings,
    check_positive_int,
    check_texts,
)
from kosbert_viz.embed.encode import encode
from kosbert_viz.embed.models import load_encoder
from kosbert_viz.exceptions import LevelError
from kosbert_viz.maps.levels import map_levels_of, sub_level_kwargs
from kosbert_viz.maps.manifest import build_manifest
from kosbert_viz.maps.placement import assign_vectors, themes_over
from kosbert_viz.maps.textmap import TextMap
from kosbert_viz.naming.keywords import keywords
from kosbert_viz.themes.cluster_layout import cluster_layout
from kosbert_viz.themes.names import hierarchy_names
from kosbert_viz.viz.scatter import cluster_map

__all__ = ["map_texts", "map_vectors"]


def map_texts(
    texts,
    model=None,
    *,
    method: str = "hierarchy",
    n_clusters: int | None = None,
    min_cluster_size: int | None = None,
    level: int | None = None,
    namer=None,
    cache="auto",
    random_state: int = 42,
    top_n: int = 8,
    title: str | None = None,
    hover_data=None,
    device: str | None = None,
    show_progress_bar: bool | None = None,
    fit_sample: int | None = None,
) -> TextMap:
    """Encode ``texts``, find their themes, name them and draw the map.

    ``method="hierarchy"`` (the default) gives nested theme levels with a default level chosen for
    reading (:mod:`kosbert_viz.themes.hierarchy`; ``n_clusters`` fixes that level's theme count), every
    text placed and every node named with keywords contrasted with its siblings (``namer`` may
    replace the names, e.g. an LLM call). ``level`` picks the level that colours the map and fills
    ``tm.table`` (default: the default level); the next finer level's names are drawn small, with
    buttons to switch. ``tm.themes`` is the whole named tree. ``"kmeans"`` and ``"hdbscan"`` give
    one flat level.

    Clustering and the map share one neighbour graph (:func:`kosbert_viz.cluster_layout`): the
    hierarchy and HDBSCAN run on a 5-D embedding and the 2-D map starts from it; k-means runs on the
    vectors themselves.
    ``cache`` is as in :func:`encode` and holds the layouts too (under ``<folder>/reduce``);
    ``cache=None`` or ``False`` keeps nothing on disk (neither vectors nor layouts).
    ``texts`` must be a collection of str (a single str is refused); they are NFC-normalised, so
    the map, its names and the report show one form of each text.

    ``fit_sample`` (for maps of millions): when given and there are more texts, every text is
    encoded (through the cache), but the layout, the themes and their names are fitted on
    ``fit_sample`` texts drawn uniformly at random without replacement
    (``numpy.random.default_rng(random_state).choice``, no stratification) and the other texts are
    placed into that map by :func:`kosbert_viz.maps.placement.assign_vectors` (what ``tm.assign`` does):
    every text gets a theme at every level and a position; fitted texts keep their own.
    ``tm.table`` sizes count all texts; ``tm.manifest["fit_sample"]`` records fitted vs placed.

    >>> tm = kv.map_texts(texts[:120], level=0)
    >>> tm.level, tm.table.columns.tolist()[:3]
    (0, ['cluster', 'size', 'name'])
    """
    texts = check_texts(texts)
    _check_args(len(texts), namer, fit_sample)
    _check_level(level, None)
    t = time.perf_counter()
    encoder = load_encoder(model, device=device)
    timings = {"load_model": time.perf_counter() - t}
    t = time.perf_counter()
    emb = encode(texts, encoder, cache=cache, show_progress_bar=show_progress_bar)
    timings["encode"] = time.perf_counter() - t
    return _map(
        texts,
        emb,
        encoder,
        timings,
        method=method,
        n_clusters=n_clusters,
        min_cluster_size=min_cluster_size,
        level=level,
        namer=namer,
        cache=cache,
        random_state=random_state,
        top_n=top_n,
        title=title,
        hover_data=hover_data,
        show_progress_bar=show_progress_bar,
        fit_sample=fit_sample,
    )


def map_vectors(
    vectors,
    texts,
    *,
    method: str = "hierarchy",
    n_clusters: int | None = None,
    min_cluster_size: int | None = None,
    level: int | None = None,
    namer=None,
    cache="auto",
    random_state: int = 42,
    top_n: int = 8,
    title: str | None = None,
    hover_data=None,
    show_progress_bar: bool | None = None,
    fit_sample: int | None = None,
    model=None,
) -> TextMap:
    """:func:`map_texts` on precomputed ``vectors`` (one row per text, in order); nothing is encoded.

    ``model`` (a name, folder or encoder, optional) is recorded in the manifest, so that ``tm.assign``
    can later encode new texts with the same model; a name is loaded (in fp32) to read its fingerprint,
    and the vectors' width must match it.

    >>> tm = kv.map_vectors(emb, texts, fit_sample=100_000)
    """
    texts = check_texts(texts)
    emb = check_embeddings(vectors, name="vectors")
    if len(emb) != len(texts):
        raise ValueError(f"vectors have {len(emb)} rows, expected one per text ({len(texts)})")
    _check_args(len(texts), namer, fit_sample)
    _check_level(level, None)
    # a name or folder (a str has an ``encode`` method of its own) is loaded in fp32, the reference precision
    # (no int8 export just to record it); an encoder or SentenceTransformer is kept as it is; anything else
    # is refused now, not after clustering
    if model is None:
        encoder = None
    elif isinstance(model, (str, os.PathLike)):
        encoder = load_encoder(model, precision="fp32")
    else:
        encoder = load_encoder(model)
    if encoder is not None and getattr(encoder, "dim", emb.shape[1]) != emb.shape[1]:
        raise ValueError(
            f"vectors have {emb.shape[1]} dimensions, but model {getattr(encoder, 'name', model)!r} "
            f"gives {encoder.dim}: pass the model that encoded them"
        )
    return _map(
        texts,
        emb,
        encoder,
        {},
        method=method,
        n_clusters=n_clusters,
        min_cluster_size=min_cluster_size,
        level=level,
        namer=namer,
        cache=cache,
        random_state=random_state,
        top_n=top_n,
        title=title,
        hover_data=hover_data,
        show_progress_bar=show_progress_bar,
        fit_sample=fit_sample,
    )


def _check_args(n: int, namer, fit_sample) -> None:
    if n < 4:
        raise ValueError(
            f"map_texts needs at least 4 texts (a 2-D map is laid out from each text's neighbours), got {n}"
        )
    if namer is not None and not callable(namer):
        raise TypeError(f"namer must be a callable(keywords, representative_texts) -> str, got {type(namer).__name__}")
    if fit_sample is not None:
        fit_sample = check_positive_int(fit_sample, "fit_sample")
        if fit_sample < 4:
            raise ValueError(f"fit_sample must be at least 4, got {fit_sample}")


_PLACE_BLOCK = 131_072  # texts placed per assign_vectors call by fit_sample


def _map(
    texts,
    emb,
    encoder,
    timings,
    *,
    fit_sample=None,
    random_state=42,
    hover_data=None,
    title=None,
    show_progress_bar=None,
    **kw,
):
    n = len(texts)
    if fit_sample is None or n <= int(fit_sample):
        return _fit(
            texts,
            emb,
            encoder,
            timings,
            random_state=random_state,
            hover_data=hover_data,
            title=title,
            show_progress_bar=show_progress_bar,
            **kw,
        )

    m = int(fit_sample)
    # a uniform random sample without replacement, seeded by random_state, kept in input order
    fit_idx = np.sort(np.random.default_rng(random_state).choice(n, m, replace=False))
    rest = np.ones(n, bool)
    rest[fit_idx] = False
    rest_idx = np.flatnonzero(rest)
    sample = _fit(
        [texts[i] for i in fit_idx],
        emb[fit_idx],
        encoder,
        dict(timings),
        random_state=random_state,
        hover_data=None,
        title=title,
        show_progress_bar=show_progress_bar,
        draw=False,
        **kw,
    )
    t = time.perf_counter()
    placed = []  # (labels at every level, coords) per block: no copy of all the other vectors at once
    for s in range(0, len(rest_idx), _PLACE_BLOCK):
        a = assign_vectors(sample, emb[rest_idx[s : s + _PLACE_BLOCK]])
        placed.append((a.levels, a.coords))
    place_s = time.perf_counter() - t
    levels, shown = map_levels_of(sample)
    res_levels, res_default = (
        (sample.clusters.levels, sample.clusters.default_level)
        if sample.clusters.levels
        else ([sample.clusters.labels], 0)
    )
    full_levels = []
    for i, lv in enumerate(res_levels):
        out = np.empty(n, np.asarray(lv).dtype)
        out[fit_idx] = lv
        out[rest_idx] = np.concatenate([lv_s[i] for lv_s, _ in placed])
        full_levels.append(out)
    coords = np.empty((n, sample.coords.shape[1]), sample.coords.dtype)
    coords[fit_idx] = sample.coords
    coords[rest_idx] = np.concatenate([xy for _, xy in placed])
    res = sample.clusters._over(full_levels, res_default)
    labels = full_levels[shown]
    table = _recount(sample.table, labels)
    themes = themes_over(sample.themes, full_levels)
    sub = sub_level_kwargs(full_levels, shown, res)
    fig = cluster_map(
        coords,
        labels=labels,
        texts=texts,
        names=dict(zip(table.cluster, table.name)),
        hover_data=hover_data,
        title=title,
        **sub,
    )
    manifest = dict(sample.manifest)
    manifest["n_texts"] = n
    manifest["timings_s"] = {**manifest.get("timings_s", {}), "place": round(place_s, 3)}
    manifest["fit_sample"] = {
        "fitted": m,
        "placed": int(len(rest_idx)),
        "random_state": random_state,
        "how": "uniform random sample without replacement "
        "(numpy default_rng(random_state).choice), input order kept; "
        "the rest placed with placement.assign_vectors",
        "placement_index": a.info.get("index"),
        "top_k": a.info.get("top_k"),
    }
    tm = TextMap(texts, emb, coords, res, table, fig, manifest)
    tm.themes = themes
    tm.level = sample.level
    # later texts are placed exactly as the rest were: by the fitted rows, with the sample's index
    tm.placement = sample.placement.placing_by(n, fit_idx, sample.embeddings)
    return tm


def _recount(table, labels):
    vals, cnt = np.unique(labels, return_counts=True)
    sizes = dict(zip(vals.tolist(), cnt.tolist()))
    table = table.copy()
    table["size"] = [sizes.get(int(c), 0) for c in table["cluster"]]
    return table


def _fit(
    texts,
    emb,
    encoder,
    timings,
    *,
    method,
    n_clusters,
    min_cluster_size,
    level,
    namer,
    cache,
    random_state,
    top_n,
    title,
    hover_data,
    show_progress_bar,
    draw: bool = True,
) -> TextMap:
    t = time.perf_counter()
    res, coords = cluster_layout(
        emb,
        method,
        n_clusters=n_clusters,
        min_cluster_size=min_cluster_size,
        random_state=random_state,
        cache=cache,
        show_progress_bar=show_progress_bar,
    )
    timings["cluster_and_layout"] = time.perf_counter() - t
    t = time.perf_counter()
    themes = None
    sub = {}
    if res.levels:
        lv = res.default_level if level is None else _check_level(level, len(res.levels))  # before naming
        themes = hierarchy_names(
            texts, res, embeddings=emb, namer=namer, top_n=top_n, show_progress_bar=show_progress_bar
        )
        labels = res.levels[lv]
        table = _level_table(themes, lv)
        sub = sub_level_kwargs(res.levels, lv, res)
    else:
        if level not in (None, 0):
            raise ValueError(f"level={level!r} needs method='hierarchy' ({method!r} gives one level)")
        labels = res.labels
        table = keywords(texts, labels, top_n=top_n, embeddings=emb)
        if namer is not None:
            table["name"] = [str(namer(list(k), list(r))) for k, r in zip(table.keywords, table.representative)]
        lv = 0
    timings["keywords"] = time.perf_counter() - t
    fig = (
        cluster_map(
            coords,
            labels=labels,
            texts=texts,
            names=dict(zip(table.cluster, table.name)),
            hover_data=hover_data,
            title=title,
            **sub,
        )
        if draw
        else None
    )
    clustering = {"method": res.method, **res.params}
    if res.levels:
        clustering.update(
            level=lv, default_level=res.default_level, themes_per_level=[int(len(np.unique(x))) for x in res.levels]
        )
    manifest = build_manifest(
        encoder=encoder,
        seeds={"random_state": random_state},
        timings=timings,
        extra={"n_texts": len(texts), "clustering": clustering},
    )
    tm = TextMap(texts, emb, coords, res, table, fig, manifest)
    tm.themes = themes
    tm.level = lv
    return tm


def _check_level(level, n_levels: int | None) -> int | None:
    """``level`` as a level index; ``n_levels`` None: only its type (checked before any work)."""
    if level is None:
        return None
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)):
        raise TypeError(f"level must be an integer (0 = the coarsest level) or None, got {level!r}")
    if n_levels is None:
        return int(level)
    if not -n_levels <= level < n_levels:
        raise LevelError(
            f"level must be between 0 (the coarsest) and {n_levels - 1} (the finest): this theme tree has "
            f"{n_levels} levels, got {level!r}"
        )
    return int(level) % n_levels


def _level_table(themes, level: int):
    """The rows of ``hierarchy_names``'s table for one level, in ``keywords()``'s columns (+ node, parent)."""
    rows = themes[themes.level == level]
    table = rows.rename(columns={"label": "cluster"})[
        ["cluster", "size", "name", "stability", "keywords", "representative", "node", "parent"]
    ]
    return table.sort_values("cluster", ignore_index=True)
