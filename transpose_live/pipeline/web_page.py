"""The page `--serve` shows at `/`: a card per camera (its MJPEG view, fps, latency, people, frame),
updated from the `/events` stream as keypoints arrive. The token of the page's own address is
passed on to every request it makes. `page(names)` fills in the cameras."""

import json


def page(names: list[str]) -> str:
    """The HTML with the camera names (JSON, with "<" escaped so no name can close the script)."""
    return PAGE.replace("__CAMERAS__", json.dumps(list(names)).replace("<", "\\u003c"))



PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>transpose-live</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#111;color:#eee}
header{padding:8px 16px;background:#222;display:flex;gap:16px;align-items:baseline}
#grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:12px;padding:12px}
.cam{background:#1b1b1b;border-radius:6px;padding:8px}
.cam img{width:100%;max-height:70vh;object-fit:contain;background:#000;display:block}
.stats{display:flex;gap:14px;font-variant-numeric:tabular-nums;padding-top:6px;flex-wrap:wrap}
.down{color:#f66}
</style></head>
<body><header><b>transpose-live</b><span id="status">connecting</span></header>
<div id="grid"></div>
<script>
const CAMERAS = __CAMERAS__;
const token = new URLSearchParams(location.search).get("token");
const q = token ? "?token=" + encodeURIComponent(token) : "";
const cards = {};
function card(i, name) {
  if (cards[i]) return cards[i];
  const el = document.createElement("div");
  el.className = "cam"; el.id = "cam-" + i;
  el.innerHTML = '<div><b class="name"></b> <span class="state"></span></div><img alt="camera ' + i + '">' +
    '<div class="stats"><span>fps <b class="fps">-</b></span><span title="newest frame: from its capture until its poses reached this server (after drawing and the other outputs); the picture above is older and carries its own capture&gt;draw time">capture &gt; web <b class="latency">-</b> ms</span>' +
    '<span>people <b class="people">-</b></span><span>frame <b class="frame">-</b></span>' +
    '<span>size <b class="size">-</b></span></div>';
  el.querySelector(".name").textContent = name;
  const img = el.querySelector("img");
  img.onload = () => { el.querySelector(".size").textContent = img.naturalWidth + "x" + img.naturalHeight; };
  img.src = "/video/" + i + q;
  document.getElementById("grid").appendChild(el);
  return cards[i] = el;
}
function set(el, cls, v) { el.querySelector("." + cls).textContent = v; }
CAMERAS.forEach((name, i) => card(i, name));
const events = new EventSource("/events" + q);
events.onopen = () => { document.getElementById("status").textContent = "live"; };
events.onerror = () => { document.getElementById("status").textContent = "reconnecting"; };
events.addEventListener("pose", e => {
  const d = JSON.parse(e.data), el = card(d.camera, d.camera_name);
  set(el, "fps", d.fps.toFixed(1)); set(el, "latency", Math.round(d.latency_ms));
  set(el, "people", d.people); set(el, "frame", d.frame);
  const s = el.querySelector(".state"); s.textContent = ""; s.className = "state";
});
events.addEventListener("source", e => {
  const d = JSON.parse(e.data), el = card(d.camera, d.camera_name), s = el.querySelector(".state");
  s.textContent = d.event === "reconnected" ? "" : "stream " + d.event + (d.reason ? " (" + d.reason + ")" : "");
  s.className = d.event === "reconnected" ? "state" : "state down";
});
</script></body></html>
"""
