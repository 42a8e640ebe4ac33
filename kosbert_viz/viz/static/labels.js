// Map names that never cover each other, placed at the plot's real size and again after every zoom
// (kosbert_viz.viz.labels has the rule and its Python copy). A figure from cluster_map carries its candidate
// names in layout.meta.kosbert_viz.labels: every theme of the level shown (largest first), then the next
// level's. Themes are always named; the next level's names appear where they fit, so zooming in shows more.
(function() {
  "use strict";
  if (window.kvLabels) return;
  var PAD = 3, RINGS = 8, LEADER = 6, CELL = 64, FALLBACK_SPOTS = 30, MIN_FONT = 11;
  function em(ch) {
    var o = ch.charCodeAt(0);
    if ((o >= 0x1100 && o <= 0x11FF) || (o >= 0x3000 && o <= 0x9FFF) || (o >= 0xAC00 && o <= 0xD7A3) || (o >= 0xF900 && o <= 0xFFEF)) return 1.0;
    if (ch === " ") return 0.3;
    if ("·.,:;'|!il".indexOf(ch) !== -1) return 0.35;
    return (ch >= "0" && ch <= "9") || (ch !== ch.toLowerCase()) ? 0.62 : 0.56;
  }
  function textWidth(text, font) { var w = 0, chars = Array.from(text); for (var i = 0; i < chars.length; i++) w += em(chars[i]); return w * font; }
  var offsetCache = {};
  function offsets(step) {
    var key = step.toFixed(1);
    if (offsetCache[key]) return offsetCache[key];
    var out = [[0, 0]];
    for (var r = 1; r <= RINGS; r++) {
      var k = 8 + 4 * (r - 1);
      for (var i = 0; i < k; i++) out.push([r * step * Math.cos(2 * Math.PI * i / k), r * step * 0.8 * Math.sin(2 * Math.PI * i / k)]);
    }
    return (offsetCache[key] = out);
  }
  function hits(a, b) { return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]; }
  function Grid() { this.cells = {}; }
  Grid.prototype.keys = function(b) {
    var out = [];
    for (var i = Math.floor(b[0] / CELL); i <= Math.floor(b[2] / CELL); i++)
      for (var j = Math.floor(b[1] / CELL); j <= Math.floor(b[3] / CELL); j++) out.push(i + "," + j);
    return out;
  };
  Grid.prototype.count = function(b, stopAtOne) {
    var ks = this.keys(b), n = 0;
    for (var k = 0; k < ks.length; k++) {
      var cell = this.cells[ks[k]] || [];
      for (var m = 0; m < cell.length; m++) if (hits(b, cell[m])) { n++; if (stopAtOne) return n; }
    }
    return n;
  };
  Grid.prototype.add = function(b) {
    var ks = this.keys(b);
    for (var k = 0; k < ks.length; k++) (this.cells[ks[k]] = this.cells[ks[k]] || []).push(b);
  };
  // the free spot nearest (ax, ay) on a lattice over the whole plot area (step: half the name's height, and
  // both edges, so names pack side by side)
  function lattice(from, to, step) {
    var out = [];
    for (var v = from; v < to; v += step) out.push(v);
    out.push(to);
    return out;
  }
  function farSpot(grid, ax, ay, bw, bh, w, h) {
    if (bw > w || bh > h) return null;
    var step = Math.max(bh / 2, 4), spots = [], xs = lattice(bw / 2, w - bw / 2, step), ys = lattice(bh / 2, h - bh / 2, step);
    for (var j = 0; j < ys.length; j++)
      for (var i = 0; i < xs.length; i++) spots.push([xs[i], ys[j], (xs[i] - ax) * (xs[i] - ax) + (ys[j] - ay) * (ys[j] - ay)]);
    spots.sort(function(a, b) { return a[2] - b[2]; });
    for (var i = 0; i < spots.length; i++) {
      var b = [spots[i][0] - bw / 2, spots[i][1] - bh / 2, spots[i][0] + bw / 2, spots[i][1] + bh / 2];
      if (grid.count(b, true) === 0) return [spots[i][0] - ax, spots[i][1] - ay, b];
    }
    return null;
  }
  // the nearest free spot on the rings around p, and the least-crowded of the first spots
  function nearSpot(grid, p, bw, bh, w, h) {
    var offs = offsets(Math.round(bh * 10) / 10), fallback = null, fewest = Infinity;
    for (var o = 0; o < offs.length; o++) {
      var cx = p[0] + offs[o][0], cy = p[1] + offs[o][1];
      var b = [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2];
      if (b[0] < 0 || b[1] < 0 || b[2] > w || b[3] > h) continue;
      if (grid.count(b, true) === 0) return {best: [offs[o][0], offs[o][1], b], fallback: null};
      if (o < FALLBACK_SPOTS) { var n = grid.count(b, false); if (n < fewest) { fewest = n; fallback = [offs[o][0], offs[o][1], b]; } }
    }
    return {best: null, fallback: fallback};
  }
  // cands: [{x, y, text, level, font}]; toPx(x, y) -> [px, py] in the plot area; w, h: its size in px.
  // A theme's name: its rings, the whole plot (leader line), then one keyword at MIN_FONT, then its least-crowded
  // spot (never dropped). A sub-theme's name: its rings only.
  function place(cands, toPx, w, h) {
    var grid = new Grid(), placed = [];
    for (var c = 0; c < cands.length; c++) {
      var cand = cands[c], p = toPx(cand.x, cand.y);
      if (!(p[0] >= 0 && p[0] <= w && p[1] >= 0 && p[1] <= h)) continue;
      var variants = [[cand.text, cand.font]];
      if (cand.level === 0) variants.push([cand.text.indexOf(" · ") !== -1 ? cand.text.split(" · ")[0].split(" ")[0] : cand.text, MIN_FONT]);
      var best = null, fallback = null, text = cand.text, font = cand.font;
      for (var v = 0; v < variants.length && !best; v++) {
        text = variants[v][0]; font = variants[v][1];
        var bw = textWidth(text, font) + 2 * PAD, bh = font * 1.25 + 2 * PAD, near = nearSpot(grid, p, bw, bh, w, h);
        best = near.best;
        if (near.fallback) fallback = [near.fallback, text, font];  // the last (smallest) variant's
        if (!best && cand.level === 0) best = farSpot(grid, p[0], p[1], bw, bh, w, h);
      }
      if (!best && cand.level === 0 && fallback) { best = fallback[0]; text = fallback[1]; font = fallback[2]; }
      if (!best) continue;  // a sub-theme's name waits for a zoom
      grid.add(best[2]);
      placed.push({cand: cand, text: text, font: font, dx: best[0], dy: best[1], box: best[2]});
    }
    return placed;
  }
  // a name is user text: plotly reads <b>, <a href> ... in annotations, so it is escaped as plain text
  function esc(t) { return String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
  function annotation(pl) {
    var c = pl.cand, leader = Math.sqrt(pl.dx * pl.dx + pl.dy * pl.dy) > LEADER;
    var a = {x: c.x, y: c.y, text: esc(pl.text), name: c.level === 0 ? "theme-name" : "subtheme-name",
             font: {size: pl.font, color: c.level === 0 ? "#1f1f1f" : "#444"},
             bgcolor: "rgba(255,255,255,0.82)", borderpad: 2};
    if (leader) { a.showarrow = true; a.ax = pl.dx; a.ay = pl.dy; a.axref = "pixel"; a.ayref = "pixel";
                  a.arrowhead = 0; a.arrowwidth = 1; a.arrowcolor = "#888"; a.standoff = 2; }
    else { a.showarrow = false; a.xshift = pl.dx; a.yshift = -pl.dy; }
    return a;
  }
  function attach(gd) {
    var meta = ((gd.layout || {}).meta || {}).kosbert_viz || {}, cands = meta.labels;
    if (!cands || !cands.length || gd.__kvLabels) return;
    gd.__kvLabels = true;
    var busy = false, again = false;
    function redo() {
      if (busy) { again = true; return; }
      var fl = gd._fullLayout;
      if (!fl || !fl.xaxis || !fl.yaxis || !fl._size) return;
      var t0 = performance.now();
      var xa = fl.xaxis, ya = fl.yaxis, sz = fl._size;
      var placed = place(cands, function(x, y) { return [xa.l2p(x), ya.l2p(y)]; }, sz.w, sz.h);
      var keep = (gd.layout.annotations || []).filter(function(a) { return a.name !== "theme-name" && a.name !== "subtheme-name"; });
      busy = true;
      gd.__kvLabelMs = performance.now() - t0;
      var done = function() {
        busy = false;
        if (again) { again = false; redo(); }
      };
      window.Plotly.relayout(gd, {annotations: keep.concat(placed.map(annotation))}).then(done, done);
    }
    gd.on("plotly_relayout", function(ev) {
      var keys = Object.keys(ev || {});
      if (keys.length && keys.every(function(k) { return k.indexOf("annotations") === 0; })) return;  // ours
      redo();  // while a placement is drawn, redo() queues one more
    });
    var timer = null;
    window.addEventListener("resize", function() { clearTimeout(timer); timer = setTimeout(redo, 120); });
    redo();
  }
  window.kvLabels = {attach: attach, place: place, textWidth: textWidth};
})();
