"""The page `--serve` shows at `/`: a card per camera (its MJPEG view, fps, latency, people, frame),
updated from the `/events` stream as keypoints arrive. The token of the page's own address is
passed on to every request it makes. `page(names)` fills in the cameras.

With multi-camera 3D (`webcam --calibration`), the `scene3d` event adds a 3D card first in the grid: a
plain 2D canvas with its own perspective projection (no library: nothing is fetched from the internet)
of the calibration's world, z up: a ground grid (0.5 m), the axes at the origin (x red, y green, z blue,
0.5 m), the cameras, and each `pose3d` frame's people in their track's colour. Drag (mouse or one
finger) turns it, the wheel (or a pinch) zooms, a double click centres it on the people; the readout
gives the 3D frame rate, the skew, the cameras used and the people."""

import json


def page(names: list[str]) -> str:
    """The HTML with the camera names (JSON, with "<" escaped so no name can close the script)."""
    return PAGE.replace("__CAMERAS__", json.dumps(list(names)).replace("<", "\\u003c")).replace("__VIEW3D__", VIEW3D)



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
#view3d canvas{width:100%;height:65vh;display:block;background:#0b0b0b;touch-action:none;cursor:grab}
</style></head>
<body><header><b>transpose-live</b><span id="status">connecting</span></header>
<div id="grid"></div>
<script>
const CAMERAS = __CAMERAS__;
__VIEW3D__
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
events.addEventListener("scene3d", e => View3D.scene(JSON.parse(e.data)));
events.addEventListener("pose3d", e => View3D.frame(JSON.parse(e.data)));
</script></body></html>
"""

VIEW3D = """const View3D = (() => {
  const COLORS = ["#ff9f1c", "#2ec4b6", "#ff4d6d", "#b388ff", "#ffe066", "#4dabf7"];
  let scene = null, latest = null, el = null, cv = null, ctx = null, dirty = false, centred = false;
  let yaw = -2.3, pitch = 0.35, dist = 6, target = [0, 0, 0.9];
  const pointers = new Map();
  function make() {
    el = document.createElement("div"); el.className = "cam"; el.id = "view3d";
    el.innerHTML = '<div><b>3D</b> <span class="state">drag: turn, wheel: zoom, double click: centre</span></div>' +
      '<canvas aria-label="3D view"></canvas><div class="stats"><span>3D fps <b class="fps3d">-</b></span>' +
      '<span>skew <b class="skew">-</b> ms</span><span>views <b class="views">-</b></span>' +
      '<span>people <b class="people3d">-</b></span><span>late <b class="late">-</b></span></div>';
    const grid = document.getElementById("grid"); grid.insertBefore(el, grid.firstChild);
    cv = el.querySelector("canvas"); ctx = cv.getContext("2d");
    cv.addEventListener("pointerdown", e => { pointers.set(e.pointerId, [e.clientX, e.clientY]); cv.setPointerCapture(e.pointerId); });
    const up = e => pointers.delete(e.pointerId);
    cv.addEventListener("pointerup", up); cv.addEventListener("pointercancel", up);
    cv.addEventListener("pointermove", e => {
      const was = pointers.get(e.pointerId); if (!was) return;
      if (pointers.size === 1) {
        yaw -= (e.clientX - was[0]) * 0.01;
        pitch = Math.max(-1.5, Math.min(1.5, pitch + (e.clientY - was[1]) * 0.01));
      } else {
        const other = [...pointers].find(([id]) => id !== e.pointerId)[1];
        const before = Math.hypot(was[0] - other[0], was[1] - other[1]);
        const after = Math.hypot(e.clientX - other[0], e.clientY - other[1]);
        if (before > 0 && after > 0) zoom(before / after);
      }
      pointers.set(e.pointerId, [e.clientX, e.clientY]); dirty = true;
    });
    cv.addEventListener("wheel", e => { e.preventDefault(); zoom(Math.exp(e.deltaY * 0.001)); }, {passive: false});
    cv.addEventListener("dblclick", () => centre(true));
    new ResizeObserver(() => { dirty = true; }).observe(cv);
    requestAnimationFrame(loop);
  }
  function zoom(f) { dist = Math.max(0.5, Math.min(60, dist * f)); dirty = true; }
  function joints(p) { return p.keypoints.filter(k => k[3] > 0); }
  function centre(force) {
    const all = latest ? latest.persons.flatMap(joints) : [];
    if (!all.length || (centred && !force)) return;
    target = [all.reduce((s, k) => s + k[0], 0) / all.length, all.reduce((s, k) => s + k[1], 0) / all.length, 0.9];
    centred = true; dirty = true;
  }
  function projector(w, h) {
    const cp = Math.cos(pitch), sp = Math.sin(pitch), cy = Math.cos(yaw), sy = Math.sin(yaw);
    const eye = [target[0] + dist * cp * cy, target[1] + dist * cp * sy, target[2] + dist * sp];
    const f = [-cp * cy, -cp * sy, -sp], r = [-sy, cy, 0], u = [-sp * cy, -sp * sy, cp], F = 0.9 * Math.min(w, h);
    return p => {
      const v = [p[0] - eye[0], p[1] - eye[1], p[2] - eye[2]];
      const z = v[0] * f[0] + v[1] * f[1] + v[2] * f[2];
      if (z < 0.1) return null;
      return [w / 2 + F * (v[0] * r[0] + v[1] * r[1]) / z, h / 2 - F * (v[0] * u[0] + v[1] * u[1] + v[2] * u[2]) / z];
    };
  }
  function line(P, a, b, colour, width) {
    const pa = P(a), pb = P(b); if (!pa || !pb) return false;
    ctx.strokeStyle = colour; ctx.lineWidth = width; ctx.beginPath(); ctx.moveTo(pa[0], pa[1]); ctx.lineTo(pb[0], pb[1]); ctx.stroke();
    return true;
  }
  function draw() {
    const dpr = window.devicePixelRatio || 1, w = Math.round(cv.clientWidth * dpr), h = Math.round(cv.clientHeight * dpr);
    if (cv.width !== w || cv.height !== h) { cv.width = w; cv.height = h; }
    ctx.fillStyle = "#0b0b0b"; ctx.fillRect(0, 0, w, h);
    const P = projector(w, h), gx = Math.round(target[0]), gy = Math.round(target[1]);
    for (let i = -8; i <= 8; i++) for (let j = -8; j < 8; j++) {   // the ground grid, 0.5 m, in short pieces
      line(P, [gx + i / 2, gy + j / 2, 0], [gx + i / 2, gy + (j + 1) / 2, 0], "#333", dpr);
      line(P, [gx + j / 2, gy + i / 2, 0], [gx + (j + 1) / 2, gy + i / 2, 0], "#333", dpr);
    }
    [[1, 0, 0, "#e33"], [0, 1, 0, "#3c3"], [0, 0, 1, "#38f"]].forEach(([x, y, z, c]) => line(P, [0, 0, 0], [x / 2, y / 2, z / 2], c, 2 * dpr));
    ctx.font = (11 * dpr) + "px system-ui"; ctx.fillStyle = "#888";
    for (const cam of scene.cameras) {
      const p = P(cam.position); if (!p) continue;
      ctx.fillRect(p[0] - 3 * dpr, p[1] - 3 * dpr, 6 * dpr, 6 * dpr); ctx.fillText(cam.name, p[0] + 5 * dpr, p[1] - 5 * dpr);
    }
    let bones = 0;
    for (const person of (latest ? latest.persons : [])) {
      const colour = COLORS[((person.track_id % COLORS.length) + COLORS.length) % COLORS.length], k = person.keypoints;
      for (const [a, b] of scene.skeleton) if (k[a] && k[b] && k[a][3] > 0 && k[b][3] > 0) bones += line(P, k[a], k[b], colour, 3 * dpr);
      ctx.fillStyle = colour;
      for (const j of joints(person)) { const p = P(j); if (p) { ctx.beginPath(); ctx.arc(p[0], p[1], 3 * dpr, 0, 7); ctx.fill(); } }
    }
    cv.dataset.bones = bones;
  }
  function loop() { if (dirty) { dirty = false; draw(); } requestAnimationFrame(loop); }
  function set(cls, v) { el.querySelector("." + cls).textContent = v; }
  return {
    scene(s) { scene = s; if (!el) make(); dirty = true; },
    frame(d) {
      if (!el) return;
      latest = d; centre(false); dirty = true;
      const used = new Set(d.persons.flatMap(p => p.views.flat()));
      set("fps3d", d.fps.toFixed(1)); set("skew", (1000 * d.skew).toFixed(1)); set("people3d", d.persons.length);
      set("views", used.size + "/" + scene.cameras.length); set("late", d.late.length ? d.late.join(", ") : "none");
    },
  };
})();"""
