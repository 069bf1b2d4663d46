"""The real-browser test: notebook 01 in JupyterLab, driven by headless Chromium through Playwright.

Starts JupyterLab on a free localhost port (a token, a temporary settings dir that silences the
news pop-up), opens a copy of ``notebooks/01_annotate.ipynb``, runs all cells, switches tiers
(with the tier buttons and with the keyboard) and clicks points on the ipympl canvas. Then it
checks from the kernel side that the points arrived with the right tiers and coordinates and that
the map changed: a probe cell appended to the copy registers ``annotator.on_change`` to write the
annotator's state to a JSON file after every change.

It also measures the click-to-redrawn-overlay latency in the browser: a capturing ``mousedown``
listener on the canvas stamps ``performance.now()``, and a ``requestAnimationFrame`` loop stamps
the first frame whose canvas pixels differ. The median is printed (``pytest -s``) and written to
``$CONFMAP_LATENCY_JSON`` when that is set.

``CONFMAP_SCREENSHOT=1`` writes the screenshot to ``docs/images/annotator.png`` (palette PNG);
otherwise it goes to the test's temporary folder.

Chromium is the system one (``chromium`` on PATH, e.g. Debian's package); Playwright's own
browser download is never used. Without Chromium the test fails: CI must install it.
"""

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

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

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
ANNOTATOR = ".confmap-annotator"
CANVAS_DIV = f"{ANNOTATOR} .jupyter-matplotlib-canvas-div"

PROBE_CELL = r'''
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
    }
    _atomic(_os.path.join(_PROBE, "state.json"), _json.dumps(state).encode())

# Figure pixels (origin bottom-left) of the image's pixel-centre corners: an affine map.
_corners = annotator.data_to_display([(0.0, 0.0), (image.shape[1] - 1.0, image.shape[0] - 1.0)])
_geometry = {"corners": _corners.tolist(), "figure_px": [float(v) for v in annotator.figure.bbox.size],
             "shape": list(image.shape)}
_atomic(_os.path.join(_PROBE, "geometry.json"), _json.dumps(_geometry).encode())
annotator.on_change(_probe_dump)
_probe_dump(annotator)
'''

# Latency instrumentation: stamp the mousedown, then poll frames until the canvas pixels change.
ARM_JS = """
(sel) => {
  const div = document.querySelector(sel);
  const canvases = div.querySelectorAll('canvas');
  const img = canvases[0], top = canvases[canvases.length - 1];
  const ctx = img.getContext('2d', {willReadFrequently: true});
  const base = ctx.getImageData(0, 0, img.width, img.height).data.slice();
  const state = {t0: null, t1: null};
  window.__confmapLatency = state;
  const changed = () => {
    const d = ctx.getImageData(0, 0, img.width, img.height).data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i] !== base[i] || d[i + 1] !== base[i + 1] || d[i + 2] !== base[i + 2]) return true;
    }
    return false;
  };
  const loop = () => {
    if (changed()) { state.t1 = performance.now(); } else { requestAnimationFrame(loop); }
  };
  top.addEventListener('mousedown', () => { state.t0 = performance.now(); requestAnimationFrame(loop); },
                       {capture: true, once: true});
  return [img.width, img.height];
}
"""


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


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free port, serving a copy of notebook 01 plus a probe cell."""
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
    nbformat.write(nb, work / NOTEBOOK.name)

    port, token = _free_port(), "confmap-browser-test"
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env.update(
        CONFMAP_ANNOTATION_DIR=str(tmp_path / "ann"),
        CONFMAP_PROBE_DIR=str(probe),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "ws"),
    )
    log = open(tmp_path / "jupyter.log", "wb")
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
        "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--LabApp.collaborative=False",
    ]
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
        yield {"url": f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?reset&token={token}",
               "probe": probe, "tmp": tmp_path, "log": server_log}
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
        pytest.fail("the browser test needs Debian's Chromium on PATH (`apt-get install chromium`); "
                    "it never downloads Playwright's browsers")
    from playwright.sync_api import sync_playwright

    probe = lab["probe"]
    console = open(lab["tmp"] / "console.log", "w")  # the browser's console, for diagnosis
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100}, device_scale_factor=1)
            page.on("console", lambda m: console.write(f"{m.type}: {m.text}\n"))
            page.goto(lab["url"], wait_until="domcontentloaded", timeout=60_000)
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                                   "&& window.jupyterapp.shell.currentWidget.sessionContext", timeout=60_000)
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
                return last + shot + "\nserver log:\n" + lab["log"]()

            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            geom = _wait_for(lambda: _read_json(probe / "geometry.json"), 120, "all cells to run", 0.3, errors)
            before = _wait_for(lambda: _read_json(probe / "state.json"), 10, "the first state dump")
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
                ("low", "key", ring("low", 1.1, [80, 200, 320])),
                ("sinks", "key", ring("medium", 0.8, [110, 300])),
            ]
            for tier, how, points in plan:
                choose(tier, how)
                for x, y in points:
                    size = page.evaluate(ARM_JS, CANVAS_DIV)
                    assert size[0] > 0
                    n_before = (_read_json(probe / "state.json") or before)["n_timings"]
                    page.mouse.click(*canvas_xy(x, y))
                    clicked.append((tier, x, y))
                    _wait_for(lambda n0=n_before: (_read_json(probe / "state.json") or before)["n_timings"] > n0,
                              20, f"the kernel to receive the {tier} click at ({x}, {y})", diagnose=errors)
                    latency_js = ("() => { const s = window.__confmapLatency; "
                                  "return s.t1 !== null && s.t0 !== null ? s.t1 - s.t0 : null; }")
                    lat = _wait_for(lambda js=latency_js: page.evaluate(js), 20, "the canvas to redraw")
                    latencies.append(lat)

            after = _read_json(probe / "state.json")
            shot = (REPO / "docs" / "images" / "annotator.png") if os.environ.get("CONFMAP_SCREENSHOT") == "1" \
                else lab["tmp"] / "annotator.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.locator(ANNOTATOR).last.screenshot(path=str(shot))
        finally:
            browser.close()
            console.close()

    # Every click arrived in the kernel with its tier and its coordinates (within a pixel).
    for tier in ("high", "medium", "low", "sinks"):
        want = [(x, y) for t, x, y in clicked if t == tier]
        got = np.array(after["points"][tier][n0[tier]:], dtype=float).reshape(-1, 2)
        assert len(got) == len(want), f"{tier}: {len(got)} new points, clicked {len(want)}"
        np.testing.assert_allclose(got, want, atol=1.5, err_msg=f"{tier} points off by more than 1.5 px")
    assert after["tier"] == "sinks"
    assert after["map_sha"] != before["map_sha"] and after["map_sum"] != before["map_sum"]

    if os.environ.get("CONFMAP_SCREENSHOT") == "1":
        _shrink_png(shot)
        assert shot.stat().st_size < 300_000
    assert shot.stat().st_size > 10_000  # a real picture, not a blank

    lat = np.array(latencies)
    kernel = np.array([t["update_ms"] for t in after["timings"][-len(lat):]])
    report = {
        "browser_click_to_redraw_ms": {"median": float(np.median(lat)), "min": float(lat.min()),
                                       "max": float(lat.max()), "n": int(lat.size)},
        "kernel_event_to_overlay_ms": {"median": float(np.median(kernel))},
        "chromium": chromium,
    }
    print("\nannotator latency:", json.dumps(report))
    if os.environ.get("CONFMAP_LATENCY_JSON"):
        Path(os.environ["CONFMAP_LATENCY_JSON"]).write_text(json.dumps(report, indent=1))
    assert np.all(lat > 0)


def _shrink_png(path):
    """Re-save a screenshot as a 256-colour palette PNG (README-sized)."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
