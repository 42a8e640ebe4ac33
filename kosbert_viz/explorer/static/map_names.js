// The explorer's map names: a layer over jupyter-scatter's canvas, placed by the report's rule
// (window.kvLabels.place, from kosbert_viz/viz/static/labels.js, loaded just before this module):
// no name covers another, every theme is named, sub-theme names appear where they fit as you zoom in.
//
// jupyter-scatter's own labels draw from a Latin glyph atlas, so Hangul names are drawn here, in HTML.
// The view: a jupyter-scatter map whose view_sync is set publishes each pan and zoom on the "pub-sub-es"
// BroadcastChannel (event "jscatter::view", with the visible x and y data ranges). Once this layer has
// found the map's canvas it tells Python, which resets the map's view to its start, so the map publishes
// it; until then the view is estimated from the data's range (x_domain, y_domain), the wider side
// stretched by the canvas's aspect ratio.
const CHANNEL = "pub-sub-es";
const VIEW_EVENT = "jscatter::view";
const LEADER = 6;  // px: a name further than this from its theme's centre gets a line to it

function startView(xd, yd, w, h) {
  const ar = w / h, cx = (xd[0] + xd[1]) / 2, cy = (yd[0] + yd[1]) / 2;
  const hx = (xd[1] - xd[0]) / 2, hy = (yd[1] - yd[0]) / 2;
  return ar >= 1 ? [[cx - hx * ar, cx + hx * ar], yd] : [xd, [cy - hy / ar, cy + hy / ar]];
}

function mapCanvas(el) {
  // the map drawn next to this widget: the largest canvas of the nearest box that holds one
  for (let box = el.parentElement; box; box = box.parentElement) {
    const all = [...box.querySelectorAll("canvas")];
    if (all.length) return all.reduce((a, b) => (b.clientWidth * b.clientHeight > a.clientWidth * a.clientHeight ? b : a));
  }
  return null;
}

function render({ model, el }) {
  el.classList.add("kv-map-names-anchor");
  const svgNS = "http://www.w3.org/2000/svg";
  let canvas = null, layer = null, lines = null, view = null, frame = 0;
  const channel = new BroadcastChannel(CHANNEL);
  const resize = new ResizeObserver(() => schedule());

  function ensureLayer() {
    const found = canvas && canvas.isConnected ? canvas : mapCanvas(el);
    if (!found) return false;
    if (found !== canvas) {
      canvas = found;
      resize.disconnect();
      resize.observe(canvas);
    }
    const host = canvas.parentElement;
    if (!layer || layer.parentElement !== host) {
      if (layer) layer.remove();
      if (getComputedStyle(host).position === "static") host.style.position = "relative";
      layer = document.createElement("div");
      layer.className = "kv-map-names";
      lines = document.createElementNS(svgNS, "svg");
      lines.setAttribute("class", "kv-map-leaders");
      layer.appendChild(lines);
      host.appendChild(layer);
    }
    layer.style.left = canvas.offsetLeft + "px";
    layer.style.top = canvas.offsetTop + "px";
    layer.style.width = canvas.clientWidth + "px";
    layer.style.height = canvas.clientHeight + "px";
    return true;
  }

  function draw() {
    frame = 0;
    if (!window.kvLabels || !ensureLayer()) return;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    const [xd, yd] = view || startView(model.get("x_domain"), model.get("y_domain"), w, h);
    const toPx = (x, y) => [((x - xd[0]) / (xd[1] - xd[0])) * w, ((yd[1] - y) / (yd[1] - yd[0])) * h];
    const t0 = performance.now();
    const placed = window.kvLabels.place(model.get("labels") || [], toPx, w, h);
    for (const old of layer.querySelectorAll(".kv-map-name")) old.remove();
    lines.replaceChildren();
    lines.setAttribute("width", w);
    lines.setAttribute("height", h);
    for (const p of placed) {
      const [x0, y0, x1, y1] = p.box;
      const name = document.createElement("span");
      name.className = "kv-map-name " + (p.cand.level === 0 ? "kv-theme-name" : "kv-subtheme-name");
      name.textContent = p.text;
      name.title = p.cand.text;
      name.style.left = x0 + "px";
      name.style.top = y0 + "px";
      name.style.width = x1 - x0 + "px";
      name.style.height = y1 - y0 + "px";
      name.style.fontSize = p.font + "px";
      layer.appendChild(name);
      if (Math.hypot(p.dx, p.dy) > LEADER) {
        const a = toPx(p.cand.x, p.cand.y), line = document.createElementNS(svgNS, "line");
        line.setAttribute("x1", a[0]);
        line.setAttribute("y1", a[1]);
        line.setAttribute("x2", (x0 + x1) / 2);
        line.setAttribute("y2", (y0 + y1) / 2);
        lines.appendChild(line);
      }
    }
    layer.dataset.view = JSON.stringify([xd, yd]);
    layer.dataset.source = view ? "map" : "estimate";  // the map's published view, or the estimate
    layer.dataset.ms = (performance.now() - t0).toFixed(1);
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  channel.onmessage = (event) => {
    const data = event.data || {}, news = data.news || {};
    if (data.event !== VIEW_EVENT || news.uuid !== model.get("view_sync") || !news.xScaleDomain) return;
    view = [Array.from(news.xScaleDomain), Array.from(news.yScaleDomain)];
    schedule();
  };
  model.on("change:labels", schedule);
  // the map's canvas may be added after this widget: look for it a while
  // (then Python resets the map's view, so that the map publishes where it is looking)
  let tries = 0;
  const wait = setInterval(() => {
    const found = mapCanvas(el);
    if ((found && found.clientWidth) || ++tries > 200) {
      clearInterval(wait);
      if (found) model.send({ event: "canvas" });
      schedule();
    }
  }, 100);
  return () => {
    clearInterval(wait);
    channel.close();
    resize.disconnect();
    if (frame) cancelAnimationFrame(frame);
    if (layer) layer.remove();
  };
}

export default { render };
