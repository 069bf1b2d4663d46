"""The real-browser test: notebook 01 in JupyterLab and in Jupyter Notebook 7, driven by headless Chromium.

Each front end (the ``lab`` fixture's two parameters) runs the same steps and prints the same report.

Starts JupyterLab on a free localhost port (a token, a temporary settings dir that silences the
news pop-up), opens a copy of ``notebooks/01_annotate.ipynb``, runs all cells, switches tiers
(with the tier buttons and with the keyboard) and clicks points on the ipympl canvas. Then it
checks from the kernel side that the points arrived with the right tiers and coordinates and that
the map changed: a probe cell appended to the copy registers ``annotator.on_change`` to write the
annotator's state to a JSON file after every change.

It also measures latencies in the browser: a capturing listener stamps ``performance.now()`` at
the trigger, and the first frame whose pixels differ is stamped when the live layer draws (a
``MutationObserver`` on its frame counter; without a layer a ``requestAnimationFrame`` loop polls
the figure's canvas). Triggers: a ``mousedown`` on the annotator's canvas (a click adding a point;
``$CONFMAP_LATENCY_CLICKS`` extra click-and-undo pairs add samples; each click is split in five
phases with a websocket hook in the page and the kernel's log of the canvas messages, see
``_click_phases``), and, in a ``ParameterExplorer`` appended to the copy (as notebook 02 shows it:
256², agreement map), the ``pointerup`` that releases the λ slider's handle after a drag (->
redrawn map) and the ``pointerdown`` of a tap on the opacity slider's track (-> first changed
frame), ``$CONFMAP_LATENCY_SLIDER_MOVES`` of each (default 6). A drag of a point (40 mouse moves
16 ms apart) counts the map frames the kernel drew while the point moved. The figures (and the
load average: times measured on a busy machine mean little; none is asserted) are printed
(``pytest -s``) and written to ``$CONFMAP_LATENCY_JSON`` (suffixed with the front end) when that
is set; ``benchmarks/bench_annotator.py`` runs this test to put them in ``benchmarks/report.json``.

It checks the layout too: each widget's ipympl toolbar is always shown, in the strip left of the
figure's drawing (so it never covers the image, the title or the axes), and the explorer's
"region" label sits on the line of its buttons.

``CONFMAP_SCREENSHOT=1`` writes the screenshots (JupyterLab, the pointer over each figure, so the
toolbar shows) to ``docs/images/annotator.png`` and ``docs/images/explorer.png`` (palette PNGs);
otherwise they go to the test's temporary folder.

Chromium is the system one (``chromium`` on PATH, e.g. Debian's package); Playwright's own
browser download is never used. Without Chromium the test fails: CI must install it.
"""

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from confmap.widgets._figure import TOOLBAR_PX

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(480)]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "01_annotate.ipynb"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ANNOTATOR = ".confmap-annotator:not(.confmap-large)"
LARGE = ".confmap-large"
CANVAS_DIV = f"{ANNOTATOR} .jupyter-matplotlib-canvas-div"

PROBE_CELL = r"""
# --- appended by tests/test_browser.py: report the annotator's state after every change ---
import hashlib as _hashlib, json as _json, os as _os
from confmap._validation import atomic_write_bytes as _atomic

_PROBE = _os.environ["CONFMAP_PROBE_DIR"]

def _probe_dump(a):
    cm = a.confidence.values
    state = {
        "points": {t: a.annotation.points(t).tolist() for t in TIERS},
        "tier": a.tier,
        "map_sha": _hashlib.sha256(cm.tobytes()).hexdigest(),
        "map_sum": float(cm.sum()),
        "n_timings": len(a.timings),
        "timings": a.timings,
        "drag_redraws": a.drag_redraws,
    }
    _atomic(_os.path.join(_PROBE, "state.json"), _json.dumps(state).encode())

# Figure pixels (origin bottom-left) of the image's pixel-centre corners: an affine map.
_corners = annotator.data_to_display([(0.0, 0.0), (image.shape[1] - 1.0, image.shape[0] - 1.0)])
_geometry = {"corners": _corners.tolist(), "figure_px": [float(v) for v in annotator.figure.bbox.size],
             "shape": list(image.shape)}
_atomic(_os.path.join(_PROBE, "geometry.json"), _json.dumps(_geometry).encode())
annotator.on_change(_probe_dump)
_probe_dump(annotator)
"""

EXPLORER_CELL = r"""
# --- appended by tests/test_browser.py: the parameter explorer as notebook 02 shows it (256², agreement) ---
from confmap.widgets import ParameterExplorer as _Explorer
import time as _time
from ipympl.backend_nbagg import Canvas as _Canvas

# diagnosis: what every ipympl canvas receives and sends from here on (dumped when the test fails)
_canvas_log = []
def _logged(name, method):
    def wrapper(self, *args):
        first = args[1] if name == "recv" else args[0]
        what = first.get("type") if isinstance(first, dict) else (len(first) if name == "binary" else None)
        _canvas_log.append((round(_time.time(), 3), self.model_id[:6], name, what, self.syncing_data_url))
        return method(self, *args)
    return wrapper
_Canvas._handle_message = _logged("recv", _Canvas._handle_message)
# the annotator's canvas exists already: its message callback is the unpatched bound method
_callbacks = annotator.figure.canvas._msg_callbacks.callbacks
_callbacks[:] = [(lambda f: lambda w, c, b: _logged("recv", lambda self, *a: f(*a))(w, w, c, b))(f) for f in _callbacks]
_Canvas.send_json = _logged("json", _Canvas.send_json)
_Canvas.send_binary = _logged("binary", _Canvas.send_binary)
# ... and when each live layer's update leaves the kernel (the traits it carries)
_Layer = type(annotator._layer)
def _layer_logged(method):
    def wrapper(self, key=None):
        keys = sorted(key) if isinstance(key, (set, list, tuple)) else [key]
        _canvas_log.append((round(_time.time(), 3), self.model_id[:6], "layer", keys, None))
        return method(self, key)
    return wrapper
_Layer.send_state = _layer_logged(_Layer.send_state)

explorer = _Explorer(annotator.annotation, image=image, agreement=ds.agreement.isel(image=0).values)

def _probe_explorer(*_):
    _atomic(_os.path.join(_PROBE, "explorer.json"), _json.dumps(
        {"n_updates": explorer.n_updates, "lam": explorer.lam, "opacity": explorer.opacity}).encode())

explorer.on_change(_probe_explorer)
explorer.controls["opacity"].observe(_probe_explorer, names="value")
_probe_explorer()
explorer
"""

LARGE_CELL = r"""
# --- appended by tests/test_browser.py: an annotator on a 768 x 1024 image (a clinical frame's size) ---
from scipy.ndimage import zoom as _zoom
from confmap import Annotation as _Annotation

_big_image = _zoom(image, (3, 4), order=1)
_scale = np.array([4.0, 3.0])
big = Annotator(_big_image, annotation=_Annotation(_big_image.shape, **{
    t: annotator.annotation.points(t) * _scale for t in TIERS}), figsize=(6.0, 4.8))
big.widget.add_class("confmap-large")

def _probe_big(a):
    _atomic(_os.path.join(_PROBE, "big.json"), _json.dumps({"n_timings": len(a.timings), "timings": a.timings,
            "points": {t: a.annotation.points(t).tolist() for t in TIERS}}).encode())

_c = big.data_to_display([(0.0, 0.0), (_big_image.shape[1] - 1.0, _big_image.shape[0] - 1.0)])
_atomic(_os.path.join(_PROBE, "big_geometry.json"), _json.dumps({"corners": _c.tolist(),
        "figure_px": [float(v) for v in big.figure.bbox.size], "shape": list(_big_image.shape)}).encode())
big.on_change(_probe_big)
_probe_big(big)
big
"""

CANVAS_DUMP = """
import json as _j
_state = [(c.model_id[:6], str(c._data_url)[:32], c.syncing_data_url, list(c._size))
          for c in (annotator.figure.canvas, explorer.figure.canvas)]
_layers = [annotator._layer.model_id[:6], explorer._layer.model_id[:6]]
_atomic(_os.path.join(_PROBE, "canvas.json"),
        _j.dumps({"state": _state, "layers": _layers, "log": _canvas_log[-8000:]}).encode())
"""

# Latency instrumentation: stamp the trigger event (a mousedown on the canvas, a pointerup anywhere
# after a slider drag, a pointerdown on a slider's track), then stamp the first frame whose pixels
# differ. With a live layer (confmap/widgets/_layer.js, drawn over the figure's axes; the figure's
# own pixels under it are hidden and its frames come later) the layer's pixels are compared each
# time the layer draws (it counts its frames in a data attribute: a MutationObserver wakes the
# check, no polling load on the page); without one, the figure's canvas is polled every animation
# frame.
ARM_JS = """
([sel, trigger]) => {
  const all = document.querySelectorAll(sel), root = all[all.length - 1];
  const canvases = root.querySelectorAll('.jupyter-matplotlib-canvas-div canvas');
  const img = canvases[0], top = canvases[canvases.length - 1];
  const layer = root.querySelector('.confmap-layer canvas');
  const c = layer || img;
  const ctx = c.getContext('2d', {willReadFrequently: true});
  const pixels = () => new Uint32Array(ctx.getImageData(0, 0, c.width, c.height).data.buffer);
  const w = c.width, h = c.height, base = pixels();
  const changed = () => {
    if (c.width !== w || c.height !== h) return true;
    const d = pixels();  // one 32-bit RGBA word per pixel
    for (let i = 0; i < d.length; i++) if (d[i] !== base[i]) return true;
    return false;
  };
  const state = {t0: null, t1: null, tws: null, tin: null, via: layer ? 'layer' : 'figure'};
  window.__confmapLatency = state;
  if (!window.__confmapWsHooked) {
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      const s = window.__confmapLatency;
      if (s && s.t0 !== null && s.tws === null) s.tws = performance.now();  // the trigger's first message leaves
      if (!this.__confmapIn) {  // ... and when the first message with a map for a live layer arrives
        this.__confmapIn = true;
        const text = new TextDecoder();
        this.addEventListener('message', (e) => {
          const s = window.__confmapLatency, d = e.data;
          if (!s || s.t0 === null || s.tin !== null) return;
          const head = typeof d === 'string' ? d : d instanceof ArrayBuffer
            ? text.decode(new Uint8Array(d, 0, Math.min(d.byteLength, 65536))) : '';
          if (head.includes('"values_box"')) s.tin = e.timeStamp;
        });
      }
      return send.call(this, data);
    };
    window.__confmapWsHooked = true;
  }
  // A frame's time is stamped before the pixel comparison: the instrument's own reading (a
  // readback of the whole canvas) is not the widget's latency.
  let start;
  if (layer) {
    const observer = new MutationObserver(() => {
      const t = performance.now();
      if (state.t0 !== null && state.t1 === null && changed()) { state.t1 = t; observer.disconnect(); }
    });
    observer.observe(layer.parentElement, {attributes: true, attributeFilter: ['data-frames']});
    start = () => { state.t0 = performance.now(); };
  } else {
    const loop = () => {
      const t = performance.now();
      if (changed()) { state.t1 = t; } else { requestAnimationFrame(loop); }
    };
    start = () => { state.t0 = performance.now(); requestAnimationFrame(loop); };
  }
  const target = trigger === 'mousedown' ? top : window;
  target.addEventListener(trigger, start, {capture: true, once: true});
  return [img.width, img.height, state.via];
}
"""
# Mouse moves every `dt` ms on ipympl's event canvas, with the button held; resolves to their span in ms.
DRAG_JS = """
([sel, path, dt]) => new Promise((resolve) => {
  const all = document.querySelectorAll(sel), root = all[all.length - 1];
  const canvases = root.querySelectorAll('.jupyter-matplotlib-canvas-div canvas');
  const top = canvases[canvases.length - 1];
  const t0 = performance.now();
  let k = 0;
  const step = () => {
    const [x, y] = path[k++];
    top.dispatchEvent(new MouseEvent('mousemove', {clientX: x, clientY: y, button: 0, buttons: 1,
                                                   bubbles: true, cancelable: true, view: window}));
    if (k < path.length) setTimeout(step, dt); else resolve(performance.now() - t0);
  };
  step();
})
"""

# The live layer against the figure under it, once the figure's frame has caught up: both draw the
# same blend of the same map, so their pixels over the axes must agree (markers and lines aside).
LAYER_VS_FIGURE_JS = """
(sel) => {
  const all = document.querySelectorAll(sel), root = all[all.length - 1];
  const fig = root.querySelector('.jupyter-matplotlib-canvas-div canvas');
  const layer = root.querySelector('.confmap-layer canvas');
  if (!layer) return null;
  const fr = fig.getBoundingClientRect(), lr = layer.getBoundingClientRect();
  const ox = Math.round(lr.left - fr.left), oy = Math.round(lr.top - fr.top);
  const w = layer.width, h = layer.height;
  const a = layer.getContext('2d').getImageData(0, 0, w, h).data;
  const b = fig.getContext('2d').getImageData(ox, oy, w, h).data;
  const d = new Uint8Array(w * h);
  for (let i = 0, j = 0; i < a.length; i += 4, j++) {
    d[j] = Math.max(Math.abs(a[i] - b[i]), Math.abs(a[i + 1] - b[i + 1]), Math.abs(a[i + 2] - b[i + 2]));
  }
  d.sort();
  return {median: d[d.length >> 1], p90: d[Math.floor(0.9 * d.length)], p99: d[Math.floor(0.99 * d.length)],
          offset: [ox, oy], size: [w, h], figure: [fig.width, fig.height]};
}
"""
EPOCH_JS = (
    "() => { const s = window.__confmapLatency; "
    "return [s.t0, s.t1, s.tws === null ? s.t1 : s.tws, s.tin === null ? s.t1 : s.tin]"
    ".map(t => (performance.timeOrigin + t) / 1e3); }"
)
LATENCY_JS = "() => { const s = window.__confmapLatency; return s.t1 !== null && s.t0 !== null ? s.t1 - s.t0 : null; }"
EXPLORER = ".confmap-explorer"
EXPLORER_CANVAS = f"{EXPLORER} .jupyter-matplotlib-canvas-div"
#: Extra click-and-undo pairs for the latency figures (``benchmarks/bench_annotator.py`` sets it).
EXTRA_CLICKS = int(os.environ.get("CONFMAP_LATENCY_CLICKS", "0"))
#: Pause before each measured click, ms (``$CONFMAP_LATENCY_PAUSE_MS``; default 0: back to back).
CLICK_PAUSE_MS = int(os.environ.get("CONFMAP_LATENCY_PAUSE_MS", "0"))
#: Whether the servers load confmap.jupyter (``$CONFMAP_BROWSER_NODELAY``, default 1).
NODELAY = os.environ.get("CONFMAP_BROWSER_NODELAY", "1") != "0"
#: Clicks on the 768 x 1024 annotator.
BIG_CLICKS = int(os.environ.get("CONFMAP_LATENCY_BIG_CLICKS", "6"))
#: Mouse moves of the drag (16 ms apart, as a mouse reports motion at about 60 Hz; see DRAG_JS).
DRAG_MOVES = 40
#: Slider moves per slider (lambda released after a drag; opacity tapped on its track).
SLIDER_MOVES = int(os.environ.get("CONFMAP_LATENCY_SLIDER_MOVES", "6"))


def _stats(values):
    a = np.asarray(values, dtype=float)
    return {
        "median": float(np.median(a)),
        "p90": float(np.percentile(a, 90)),
        "min": float(a.min()),
        "max": float(a.max()),
        "n": int(a.size),
    }


def _click_phases(click_epochs, canvas_log):
    """Split each click's latency in five, in ms, from the kernel's log of the annotator's messages.

    ``ws``: mousedown -> the browser sends ipympl's ``button_press`` on the websocket (the
    browser's handlers). ``recv``: -> the kernel receives it (the server's relay; a kernel still
    busy with an earlier message). ``sent``: -> the live layer's update (the map's bytes and the
    points) leaves the kernel (matplotlib's event, the map). ``back``: -> the update arrives on the
    page's websocket (the server's relay the other way). ``show``: -> the layer shows it (the front
    end's message handling, the layer's blend and drawing at the next animation frame).
    Browser and kernel share the machine's wall clock.
    """
    canvas_id, layer_id = canvas_log["state"][0][0], canvas_log["layers"][0]
    log = canvas_log["log"]
    presses = [e[0] for e in log if e[1] == canvas_id and e[2] == "recv" and e[3] == "button_press"]
    sends = [e[0] for e in log if e[1] == layer_id and e[2] == "layer" and "values" in e[3]]
    phases = {"ws": [], "recv": [], "sent": [], "back": [], "show": []}
    for t0, t1, tws, tin in click_epochs:
        recv = next((t for t in presses if t0 <= t <= t1), None)
        sent = recv and next((t for t in sends if recv <= t <= t1), None)
        if sent and sent <= tin + 1e-3:  # (the kernel's log is rounded to 1 ms)
            phases["ws"].append(1e3 * (tws - t0))
            phases["recv"].append(1e3 * (recv - tws))
            phases["sent"].append(1e3 * (sent - recv))
            phases["back"].append(1e3 * max(tin - sent, 0.0))
            phases["show"].append(1e3 * (t1 - tin))
    assert phases["sent"], f"no click could be split: {click_epochs} {presses[-5:]} {sends[-5:]}"
    return phases


def _figure_draws_during_clicks(click_epochs, canvas_log):
    """How many clicks saw the annotator's figure asked for a redraw (ipympl's ``draw`` message)
    between the mouse-down and 50 ms after the new map showed: the figure is to follow only when
    the hand rests (``DeferredDraw``), so this counts redraws on the click's path."""
    canvas_id = canvas_log["state"][0][0]
    draws = [e[0] for e in canvas_log["log"] if e[1] == canvas_id and e[2] == "json" and e[3] == "draw"]
    return sum(any(t0 <= t <= t1 + 0.05 for t in draws) for t0, t1, *_ in click_epochs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, timeout, what, poll=0.1, diagnose=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}. {diagnose()}")


def _read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@pytest.fixture(params=["lab", "notebook"])
def lab(request, tmp_path):
    """A JupyterLab (or Jupyter Notebook 7) server on a free port, serving notebook 01 plus a probe cell."""
    front = request.param
    import nbformat

    work = tmp_path / "work"
    probe = tmp_path / "probe"
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    for d in (work, probe, settings, tmp_path / "ann", tmp_path / "ws", tmp_path / "runtime"):
        d.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE_CELL.strip()))
    nb.cells.append(nbformat.v4.new_code_cell(EXPLORER_CELL.strip()))
    nb.cells.append(nbformat.v4.new_code_cell(LARGE_CELL.strip()))
    nbformat.write(nb, work / NOTEBOOK.name)

    port, token = _free_port(), "confmap-browser-test"
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    # the kernel imports this checkout's confmap (not another installed copy)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(
        CONFMAP_ANNOTATION_DIR=str(tmp_path / "ann"),
        CONFMAP_PROBE_DIR=str(probe),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"),
    )
    log = open(tmp_path / "jupyter.log", "wb")
    app = "LabApp" if front == "lab" else "JupyterNotebookApp"
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        front,
        "--no-browser",
        "--allow-root",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}",
        f"--{app}.expose_app_in_browser=True",
    ]
    if front == "lab":
        cmd += ["--LabApp.news_url=", "--LabApp.collaborative=False"]
    # the jupyter server extension confmap.jupyter (TCP_NODELAY on kernel websockets), as installed;
    # $CONFMAP_BROWSER_NODELAY=0 turns it off (benchmarks/bench_annotator.py measures both)
    cmd.append(f"--ServerApp.jpserver_extensions=confmap.jupyter={NODELAY}")
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server_log = lambda: (tmp_path / "jupyter.log").read_text(errors="replace")[-3000:]  # noqa: E731
    try:

        def up():
            if proc.poll() is not None:
                raise AssertionError(f"JupyterLab exited with {proc.returncode}:\n{server_log()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        _wait_for(up, 60, "JupyterLab to start", poll=0.3, diagnose=server_log)
        loaded = "confmap.jupyter: kernel websockets send at once" in (tmp_path / "jupyter.log").read_text()
        assert loaded == NODELAY, f"confmap.jupyter {'not ' if NODELAY else ''}loaded:\n{server_log()}"
        path = f"lab/tree/{NOTEBOOK.name}?reset&" if front == "lab" else f"notebooks/{NOTEBOOK.name}?"
        yield {
            "url": f"http://127.0.0.1:{port}/{path}token={token}",
            "front": front,
            "probe": probe,
            "tmp": tmp_path,
            "log": server_log,
        }
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()


def _to_css(geom, x, y):
    """Canvas CSS offset of image point (x, y): figure pixels, y flipped (device scale 1)."""
    (x0, y0), (x1, y1) = geom["corners"]
    w, h = geom["shape"][1] - 1.0, geom["shape"][0] - 1.0
    fx = x0 + (x1 - x0) * x / w
    fy = y0 + (y1 - y0) * y / h
    return fx, geom["figure_px"][1] - fy


def test_annotate_in_jupyterlab(lab):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail(
            "the browser test needs Debian's Chromium on PATH (`apt-get install chromium`); "
            "it never downloads Playwright's browsers"
        )
    from playwright.sync_api import sync_playwright

    probe = lab["probe"]
    console = open(lab["tmp"] / "console.log", "w")  # the browser's console, for diagnosis
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100}, device_scale_factor=1)
            page.on("console", lambda m: console.write(f"{m.type}: {m.text} @{time.time():.3f}\n"))
            page.goto(lab["url"], wait_until="domcontentloaded", timeout=60_000)
            page.wait_for_function(
                "() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                "&& window.jupyterapp.shell.currentWidget.sessionContext",
                timeout=120_000,
            )
            # The kernel says "idle" before its websocket is connected: wait for both.
            page.wait_for_function(
                """() => { const k = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
                           return k && k.connectionStatus === 'connected' && k.status === 'idle'; }""",
                timeout=60_000,
            )

            def errors():
                page.screenshot(path=str(lab["tmp"] / "failure.png"))
                texts = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
                shot = f"\nscreenshot: {lab['tmp'] / 'failure.png'}"
                last = " | ".join(t[:500] for t in texts.all_inner_texts()[-3:])
                stamps = page.evaluate("() => JSON.stringify(window.__confmapLatency || null)")
                stamps += f", explorer {_read_json(probe / 'explorer.json')}"
                # the kernel's view of the ipympl canvases (see EXPLORER_CELL's _canvas_log)
                page.evaluate(
                    "(code) => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                    ".requestExecute({code, silent: true})",
                    CANVAS_DUMP,
                )
                try:
                    canvases = _wait_for(lambda: _read_json(probe / "canvas.json"), 10, "the canvas dump")
                    canvases["log"] = canvases["log"][-300:]
                except AssertionError as exc:
                    canvases = str(exc)
                console.flush()
                log = (lab["tmp"] / "console.log").read_text(errors="replace").splitlines()
                console_errors = [line for line in log if line.startswith("error:")][-5:]
                return (
                    f"{last}{shot}\nlatency stamps: {stamps}\nbrowser console errors: {console_errors}"
                    f"\nipympl canvases (kernel side): {canvases}"
                    f"\nserver log:\n{lab['log']()}"
                )

            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            geom = _wait_for(lambda: _read_json(probe / "geometry.json"), 120, "all cells to run", 0.3, errors)
            before = _wait_for(lambda: _read_json(probe / "state.json"), 10, "the first state dump")
            _wait_for(lambda: _read_json(probe / "explorer.json"), 60, "the explorer cell to run", 0.3, errors)
            page.wait_for_function(  # every cell has run: the kernel is idle again
                "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
                timeout=60_000,
            )
            n0 = {t: len(p) for t, p in before["points"].items()}

            div = page.locator(CANVAS_DIV).last
            div.scroll_into_view_if_needed()
            page.wait_for_timeout(300)

            def canvas_xy(x, y):
                box = div.bounding_box()  # now: focusing a widget may have scrolled the notebook
                cx, cy = _to_css(geom, x, y)  # the canvases sit at the div's top-left corner
                return box["x"] + cx, box["y"] + cy

            def choose(tier, how):
                if how == "button":
                    label = {"high": "1 high", "medium": "2 medium", "low": "3 low", "sinks": "4 sink"}[tier]
                    page.locator(f"{ANNOTATOR} .widget-toggle-button", has_text=label).click()
                elif how == "key_on_button":  # a key right after a click on a (tier) button
                    page.locator(f"{ANNOTATOR} .widget-toggle-button.mod-active").click()
                    page.wait_for_timeout(200)
                    page.keyboard.press({"high": "1", "medium": "2", "low": "3", "sinks": "4"}[tier])
                else:
                    div.focus()
                    page.keyboard.press({"high": "1", "medium": "2", "low": "3", "sinks": "4"}[tier])
                page.wait_for_timeout(300)  # let the widget value reach the kernel

            latencies, clicked = [], []
            h, w = geom["shape"]
            # Points where an annotator puts them: each just outside its tier's existing points
            # (so every click grows a region and changes the map), at spread-out angles.
            centre = np.mean(before["points"]["high"], axis=0) if n0["high"] else np.array([w / 2, h / 2])

            taken = [p for pts in before["points"].values() for p in pts]

            def ring(tier, factor, angles):
                """Points at `factor` x the tier's radius, each > 12 px from every other point
                (a click within the annotator's pick radius of a point grabs it instead)."""
                pts = np.array(before["points"][tier], dtype=float).reshape(-1, 2)
                r = np.hypot(*(pts - centre).T).max() * factor if len(pts) else 30.0 * factor
                out = []
                for a0 in angles:
                    candidates = (  # nearest free spot: sweep the angle, then widen the ring
                        (r * (1 + 0.05 * k), np.deg2rad(a0 + da)) for k in range(40) for da in range(0, 360, 5)
                    )
                    for rr, a in candidates:
                        x = float(np.clip(centre[0] + rr * np.cos(a), 5, w - 6))
                        y = float(np.clip(centre[1] + rr * np.sin(a), 5, h - 6))
                        if all(np.hypot(x - px, y - py) > 12 for px, py in taken):
                            break
                    else:
                        raise AssertionError(f"no free spot for a {tier} click")
                    taken.append((x, y))
                    out.append((round(x, 2), round(y, 2)))
                return out

            plan = [  # (tier, how the tier is chosen, image points)
                ("high", "button", ring("high", 1.2, [45, 225])),
                ("medium", "button", ring("medium", 1.15, [20, 140, 260])),
                ("low", "key_on_button", ring("low", 1.1, [80, 200, 320])),
                ("sinks", "key", ring("medium", 0.8, [110, 300])),
            ]
            kernel_ms = []
            map_changed = []  # per click: did it change the map (a sink outside every region does not)
            click_epochs = []  # (mousedown, changed frame) per click, in epoch seconds

            def click_and_time(x, y, what):
                """Click image point (x, y); the browser's mousedown -> changed frame, in ms."""
                page.wait_for_timeout(CLICK_PAUSE_MS)
                assert page.evaluate(ARM_JS, [ANNOTATOR, "mousedown"])[0] > 0
                prior = _read_json(probe / "state.json") or before
                n_before = prior["n_timings"]
                page.mouse.click(*canvas_xy(x, y))
                state = _wait_for(
                    lambda: (s := _read_json(probe / "state.json")) and s["n_timings"] > n_before and s,
                    20,
                    f"the kernel to receive {what} at ({x}, {y})",
                    diagnose=errors,
                )
                kernel_ms.append(state["timings"][-1]["update_ms"])
                map_changed.append(state["map_sha"] != prior["map_sha"])
                ms = _wait_for(lambda: page.evaluate(LATENCY_JS), 20, "the canvas to redraw", diagnose=errors)
                click_epochs.append(page.evaluate(EPOCH_JS))
                return ms

            for tier, how, points in plan:
                choose(tier, how)
                for x, y in points:
                    latencies.append(click_and_time(x, y, f"the {tier} click"))
                    clicked.append((tier, x, y))

            # More samples for the latency figures: a medium point on a free spot just outside the
            # medium ring (it grows the region: the map changes), then undo it (a button).
            spots = ring("medium", 1.3, [0, 72, 144, 216, 288]) if EXTRA_CLICKS else []
            undo = page.locator(f"{ANNOTATOR} button", has_text="undo")
            if EXTRA_CLICKS:
                choose("medium", "button")
            for k in range(EXTRA_CLICKS):
                x, y = spots[k % len(spots)]
                latencies.append(click_and_time(x, y, "an extra click"))
                n_before = _read_json(probe / "state.json")["n_timings"]
                undo.click()
                _wait_for(lambda n0=n_before: _read_json(probe / "state.json")["n_timings"] > n0, 20, "the undo")
                page.wait_for_timeout(150)
            if EXTRA_CLICKS:
                choose("sinks", "key")

            # Where a click's time goes: the kernel's log of the annotator's canvas messages.
            page.evaluate(
                "(code) => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                ".requestExecute({code, silent: true})",
                CANVAS_DUMP,
            )
            canvas_log = _wait_for(lambda: _read_json(probe / "canvas.json"), 20, "the canvas log", diagnose=errors)
            (probe / "canvas.json").unlink()
            (lab["tmp"] / "clicks.json").write_text(json.dumps({"clicks": click_epochs, **canvas_log}))
            phases = _click_phases(click_epochs, canvas_log)
            figure_draws = _figure_draws_during_clicks(click_epochs, canvas_log)
            # every click did, while pyplot's post-execute hook redrew stale figures (before 2026-12-03);
            # a deferred redraw from an earlier change may still land in one now and then
            assert figure_draws <= len(click_epochs) // 4, f"{figure_draws} of {len(click_epochs)} clicks redrew"

            # Drag a high point: the map must follow during the drag. The press and the release are
            # Playwright's; the moves in between are mouse events the page dispatches every 16 ms on
            # ipympl's canvas (a mouse reports at about 60 Hz; Playwright's own moves wait for the
            # browser's frames, about 100 ms each here, which would bound the rate, not the widget).
            mid = _read_json(probe / "state.json")
            hx, hy = mid["points"]["high"][0]
            n_before, redraws0 = mid["n_timings"], mid["drag_redraws"]
            page.mouse.move(*canvas_xy(hx, hy))
            page.mouse.down()
            path = [canvas_xy(hx + 12 * k / DRAG_MOVES, hy + 6 * k / DRAG_MOVES) for k in range(1, DRAG_MOVES + 1)]
            drag_s = page.evaluate(DRAG_JS, [ANNOTATOR, path, 16]) / 1e3
            page.mouse.move(*path[-1])
            page.mouse.up()
            _wait_for(
                lambda: (_read_json(probe / "state.json") or mid)["n_timings"] > n_before,
                20,
                "the kernel to commit the drag",
                diagnose=errors,
            )
            after = _read_json(probe / "state.json")
            page.wait_for_timeout(1500)  # the figure's own frame (redrawn at the release) arrives
            agreement = {"annotator": page.evaluate(LAYER_VS_FIGURE_JS, ANNOTATOR)}
            drag = {"moves": DRAG_MOVES, "seconds": round(drag_s, 3), "map_redraws": after["drag_redraws"] - redraws0}
            np.testing.assert_allclose(after["points"]["high"][0], (hx + 12, hy + 6), atol=1.5)
            readme_shot = os.environ.get("CONFMAP_SCREENSHOT") == "1" and lab["front"] == "lab"
            images = (REPO / "docs" / "images") if readme_shot else lab["tmp"]
            shot, ex_shot = images / "annotator.png", images / "explorer.png"
            images.mkdir(parents=True, exist_ok=True)
            page.mouse.move(*canvas_xy(w / 2, h / 2))  # hover: the toolbar shows (it never covers the image)
            page.wait_for_timeout(600)
            page.locator(ANNOTATOR).last.screenshot(path=str(shot))
            layout = {"annotator": _toolbar_layout(page, CANVAS_DIV)}
            order = {"annotator": _layer_order(page, ANNOTATOR)}

            # The explorer: lambda released after a drag of its handle -> redrawn map; opacity
            # tapped on its track -> first changed frame.
            ex_div = page.locator(EXPLORER_CANVAS).last
            page.locator(EXPLORER).last.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            ex0 = _wait_for(lambda: _read_json(probe / "explorer.json"), 10, "the explorer's first state")
            # The explorer's figure has reached the page: the LAST explorer's canvas (the one measured)
            # has a size. Scrolled into view on every poll: JupyterLab renders the outputs of cells
            # near the viewport only, and the figure may arrive after the first scroll (slow on a
            # loaded machine).
            last_canvas_ready = (
                "(sel) => { const all = document.querySelectorAll(sel); const d = all[all.length - 1]; "
                "const c = d && d.querySelector('canvas'); return !!(c && c.width > 0 && c.height > 0); }"
            )

            def explorer_drawn():
                page.locator(EXPLORER).last.scroll_into_view_if_needed()
                return page.evaluate(last_canvas_ready, EXPLORER_CANVAS)

            _wait_for(explorer_drawn, 120, "the explorer's figure on the page", poll=1.0, diagnose=errors)
            page.wait_for_timeout(500)

            def slider(label):
                return page.locator(f"{EXPLORER} .widget-slider", has_text=label).locator(".noUi-handle").first

            def track(label):
                return page.locator(f"{EXPLORER} .widget-slider", has_text=label).locator(".noUi-target").first

            sliders = {"lam": [], "opacity": []}
            lam_seen = [ex0["lam"]]
            for k in range(SLIDER_MOVES):
                slider("λ (grid)").scroll_into_view_if_needed()
                handle = slider("λ (grid)").bounding_box()
                hx0, hy0 = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
                dx = (12 + 4 * (k % 3)) * (1 if k % 2 == 0 else -1)  # right, left, ...: always a new value
                page.mouse.move(hx0, hy0)
                page.mouse.down()
                for step in range(1, 6):
                    page.mouse.move(hx0 + dx * step / 5, hy0)
                    page.wait_for_timeout(30)
                assert page.evaluate(ARM_JS, [EXPLORER, "pointerup"])[0] > 0
                n_before = _read_json(probe / "explorer.json")["n_updates"]
                page.mouse.up()
                state = _wait_for(
                    lambda n0=n_before: (s := _read_json(probe / "explorer.json")) and s["n_updates"] > n0 and s,
                    20,
                    "the explorer to recompute after the lambda slider",
                    diagnose=errors,
                )
                lam_seen.append(state["lam"])
                sliders["lam"].append(
                    _wait_for(lambda: page.evaluate(LATENCY_JS), 20, "the explorer to redraw", diagnose=errors)
                )
                page.wait_for_timeout(300)
            for k in range(SLIDER_MOVES):
                track("opacity").scroll_into_view_if_needed()
                box = track("opacity").bounding_box()
                frac = (0.25, 0.75, 0.4, 0.9, 0.15, 0.6)[k % 6]
                assert page.evaluate(ARM_JS, [EXPLORER, "pointerdown"])[0] > 0
                before_op = _read_json(probe / "explorer.json")["opacity"]
                page.mouse.click(box["x"] + frac * box["width"], box["y"] + box["height"] / 2)
                _wait_for(
                    lambda b=before_op: _read_json(probe / "explorer.json")["opacity"] != b,
                    20,
                    "the opacity to reach the kernel",
                    diagnose=errors,
                )
                sliders["opacity"].append(
                    _wait_for(lambda: page.evaluate(LATENCY_JS), 20, "the opacity frame", diagnose=errors)
                )
                page.wait_for_timeout(300)
            ex_box = ex_div.bounding_box()
            page.mouse.move(ex_box["x"] + ex_box["width"] / 2, ex_box["y"] + ex_box["height"] / 2)
            page.wait_for_timeout(600)  # hovered: the toolbar shows beside the title and the axes
            page.locator(EXPLORER).last.screenshot(path=str(ex_shot))
            layout["explorer"] = _toolbar_layout(page, EXPLORER_CANVAS)
            agreement["explorer"] = page.evaluate(LAYER_VS_FIGURE_JS, EXPLORER)
            order["explorer"] = _layer_order(page, EXPLORER)
            label = page.locator(f"{EXPLORER} .confmap-region-label").first.bounding_box()
            button = page.locator(f"{EXPLORER} .widget-toggle-button", has_text="convex").first.bounding_box()
            layout["region_row"] = {"label": label, "button": button}

            # A 768 x 1024 image (drawn on its display grid): clicks -> first frame with the new map.
            big_geom = _wait_for(
                lambda: _read_json(probe / "big_geometry.json"), 60, "the large annotator", diagnose=errors
            )
            big_div = page.locator(f"{LARGE} .jupyter-matplotlib-canvas-div").last
            page.locator(LARGE).last.scroll_into_view_if_needed()
            _wait_for(
                lambda: page.evaluate(last_canvas_ready, f"{LARGE} .jupyter-matplotlib-canvas-div"),
                60,
                "the large annotator's figure",
                poll=0.5,
                diagnose=errors,
            )
            page.wait_for_timeout(500)
            big_ms, bh, bw = [], *big_geom["shape"]
            big0 = _read_json(probe / "big.json")["points"]
            pts = np.array([p for tier in big0.values() for p in tier], dtype=float).reshape(-1, 2)
            centre = np.array(big0["high"], dtype=float).mean(axis=0)
            radius = 1.25 * np.hypot(*(np.array(big0["high"]) - centre).T).max()
            spots = []  # around the tumour, just outside the points, each > 30 px from all others
            for a in np.deg2rad(np.arange(0, 360, 7) * 7 % 360):
                xy = np.clip(centre + radius * np.array([np.cos(a), np.sin(a)]), 10, [bw - 11, bh - 11])
                if np.hypot(*(pts - xy).T).min() > 30 and all(np.hypot(*(xy - q)) > 30 for q in spots):
                    spots.append(xy)
            assert len(spots) >= BIG_CLICKS, spots
            for k in range(BIG_CLICKS):
                x, y = spots[k]
                page.wait_for_timeout(300)
                assert page.evaluate(ARM_JS, [LARGE, "mousedown"])[2] == "layer"
                n_before = _read_json(probe / "big.json")["n_timings"]
                box = big_div.bounding_box()
                cx, cy = _to_css(big_geom, x, y)
                page.mouse.click(box["x"] + cx, box["y"] + cy)
                _wait_for(
                    lambda n0=n_before: _read_json(probe / "big.json")["n_timings"] > n0,
                    20,
                    "the large annotator's click",
                    diagnose=errors,
                )
                big_ms.append(_wait_for(lambda: page.evaluate(LATENCY_JS), 20, "the large map", diagnose=errors))
            big_state = _read_json(probe / "big.json")
        finally:
            browser.close()
            console.close()

    # Every click arrived in the kernel with its tier and its coordinates (within a pixel).
    for tier in ("high", "medium", "low", "sinks"):
        want = [(x, y) for t, x, y in clicked if t == tier]
        got = np.array(after["points"][tier][n0[tier] :], dtype=float).reshape(-1, 2)
        assert len(got) == len(want), f"{tier}: {len(got)} new points, clicked {len(want)}"
        np.testing.assert_allclose(got, want, atol=1.5, err_msg=f"{tier} points off by more than 1.5 px")
    assert after["tier"] == "sinks"
    assert after["map_sha"] != before["map_sha"] and after["map_sum"] != before["map_sum"]

    if readme_shot:
        _shrink_png(shot)
        assert shot.stat().st_size < 300_000
    assert shot.stat().st_size > 10_000  # a real picture, not a blank

    # Layout (UX): each toolbar is always shown, in the strip left of its figure's drawing; the
    # region label sits on the line of its buttons.
    for name in ("annotator", "explorer"):
        tb, canvas = layout[name]["toolbar"], layout[name]["canvas"]
        assert layout[name]["visible"], f"the {name}'s toolbar is hidden"
        assert tb["x"] + tb["width"] <= canvas["x"] + TOOLBAR_PX + 1, (name, tb, canvas)
    lab_box, btn = layout["region_row"]["label"], layout["region_row"]["button"]
    assert abs((lab_box["y"] + lab_box["height"] / 2) - (btn["y"] + btn["height"] / 2)) < btn["height"] / 2
    assert lab_box["x"] + lab_box["width"] <= btn["x"] + 1
    # the sliders reached the kernel: lambda changed at every release
    assert all(a != b for a, b in itertools.pairwise(lam_seen)), lam_seen

    if readme_shot:
        for path in (shot, ex_shot):
            _shrink_png(path)
            assert path.stat().st_size < 300_000
    assert shot.stat().st_size > 10_000 and ex_shot.stat().st_size > 10_000  # real pictures, not blanks

    # The live layer shows what the figure shows: the same blend (the layer's colours from bytes,
    # within a few levels), at the same place (an offset would put the image's edges in the diff).
    print("\nlayer vs figure:", json.dumps(agreement))
    for name, diff in agreement.items():
        assert diff is not None, f"the {name} has no live layer"
        assert diff["median"] <= 2 and diff["p90"] <= 8, (name, diff)
    # ... between the figure's image and ipympl's top canvas (where the zoom rectangle is drawn)
    assert order == {"annotator": ["top", "layer"], "explorer": ["top", "layer"]}, order

    report = {
        "browser_click_to_redraw_ms": _stats(latencies),
        "clicks_changing_the_map": [int(sum(map_changed)), len(map_changed)],
        "kernel_event_to_overlay_ms": _stats(kernel_ms),
        **{f"click_{name}_ms": _stats(values) for name, values in phases.items()},
        "layer_vs_figure": agreement,
        "large_click_to_redraw_ms": _stats(big_ms),  # 768 x 1024 (display grid 384 x 512)
        "large_kernel_event_to_overlay_ms": _stats([t["update_ms"] for t in big_state["timings"]]),
        "drag": drag,  # map frames drawn while the point moved (before the release)
        "explorer_lam_release_to_redraw_ms": _stats(sliders["lam"]),
        "explorer_opacity_to_frame_ms": _stats(sliders["opacity"]),
        "front_end": lab["front"],
        "server_nodelay": NODELAY,  # the server extension confmap.jupyter
        "figure_draws_during_clicks": [figure_draws, len(click_epochs)],
        "load_average_1min": os.getloadavg()[0],
        "chromium": chromium,
    }
    print("\nannotator latency:", json.dumps(report))
    if os.environ.get("CONFMAP_LATENCY_JSON"):
        out = Path(os.environ["CONFMAP_LATENCY_JSON"])
        out.with_name(f"{out.stem}-{lab['front']}{out.suffix}").write_text(json.dumps(report, indent=1))
    assert all(t > 0 for t in latencies + sliders["lam"] + sliders["opacity"])


def _toolbar_layout(page, canvas_div):
    """Boxes of the ipympl toolbar and canvas of the widget around ``canvas_div``, and the toolbar's visibility."""
    return page.evaluate(
        """(sel) => {
          const div = document.querySelector(sel);
          const fig = div.closest('.jupyter-matplotlib-figure') || div.parentElement;
          const tb = fig.querySelector('.jupyter-matplotlib-toolbar');
          const box = (e) => { const r = e.getBoundingClientRect();
                               return {x: r.x, y: r.y, width: r.width, height: r.height}; };
          const cs = getComputedStyle(tb);
          return {toolbar: box(tb), canvas: box(div.querySelector('canvas')),
                  visible: cs.visibility === 'visible' && cs.opacity === '1'};
        }""",
        canvas_div,
    )


def _layer_order(page, root):
    """What the page shows at the layer's centre, top first: ipympl's top canvas (the zoom rectangle's)
    must be over the layer, and the layer over the figure's image canvas (hit-testing follows the
    painting order; the layer and the top canvas take part in it only for this check)."""
    return page.evaluate(
        """(sel) => {
          const all = document.querySelectorAll(sel), root = all[all.length - 1];
          const layer = root.querySelector('.confmap-layer canvas');
          const canvases = root.querySelectorAll('.jupyter-matplotlib-canvas-div canvas');
          const img = canvases[0], top = canvases[canvases.length - 1];
          const r = layer.getBoundingClientRect(), x = r.x + r.width / 2, y = r.y + r.height / 2;
          const name = (e) => e === layer ? 'layer' : e === top ? 'top' : e === img ? 'image' : e.tagName;
          layer.style.pointerEvents = 'auto';
          const first = name(document.elementFromPoint(x, y));
          top.style.pointerEvents = 'none';
          const second = name(document.elementFromPoint(x, y));
          top.style.pointerEvents = '';
          layer.style.pointerEvents = 'none';
          return [first, second];
        }""",
        root,
    )


def _shrink_png(path):
    """Re-save a screenshot as a 256-colour palette PNG (README-sized)."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
