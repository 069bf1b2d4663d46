"""Speed of the live widgets: kernel-side ``add_point``, and the browser's latencies in two front ends.

Kernel side, headless (Agg): the time from the ``add_point`` call until the overlay is updated and the canvas
redrawn, the part of a click's latency that the kernel owns (the browser test measures the rest).
The before-path (every image pixel drawn, ``display_max=None``) is measured in the same run as the
default display grid (``display_max=800``), so the ratio is free of the machine's load of the day.

    python benchmarks/bench_annotator.py            # 256x256, 768x1024, 1500x2000
    python benchmarks/bench_annotator.py --quick    # fewer repeats

Prints, per image size: the map alone (``confidence_map``), ``add_point`` with every pixel drawn,
``add_point`` on the display grid, and their ratio (medians, ms), and the load average.

In the suite (``python -m benchmarks --only annotator``, full mode only: it takes minutes and needs
Chromium, Playwright, JupyterLab and Notebook 7), :func:`benchmark` records those kernel-side
figures (claim: the display grid makes ``add_point`` at 1500x2000 at least 1.5x faster than
drawing every pixel, same run) and runs ``tests/test_browser.py`` with ``$CONFMAP_LATENCY_JSON``
set, which drives notebook 01 and a ParameterExplorer in headless Chromium in JupyterLab and in
Jupyter Notebook 7 and reports, per front end: click -> first frame with the new map (on the live
layer), the kernel's share of a click and the click's five phases, the same click on a 768x1024
image, the map frames drawn during a 40-move drag, explorer lambda-slider release -> redrawn map
and opacity tap -> first changed frame. The servers load the jupyter server extension
``confmap.jupyter`` (TCP_NODELAY on kernel websockets), as installed; a second run of the
JupyterLab test without it (``$CONFMAP_BROWSER_NODELAY=0``) gives the same figures as front end
``lab_default_server``, so each report holds the extension's effect measured that day. No time
is claimed (a shared machine's load moves them several-fold; the load average is recorded with
them); ``benchmarks/readme.py`` puts them in the README's latency table next to the goals of
issue 13.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from confmap import ConfmapWarning, confidence_map  # noqa: E402
from confmap.widgets import Annotator  # noqa: E402

SIZES = ((256, 256), (768, 1024), (1500, 2000))
FULL_ONLY = True
REQUIRES = ("playwright", "ipympl", "jupyterlab", "notebook", "nbformat")
REQUIRES_PROGRAMS = ("chromium",)
FRONT_ENDS = ("lab", "notebook")
#: click-and-undo pairs added to the browser test's 10 clicks, per front end
EXTRA_CLICKS = 30
SLIDER_MOVES = 8
ROOT = Path(__file__).resolve().parents[1]


def rings(shape, *, seed=0):
    """High, medium and low rings around a tumour of ~1/4 the image, (x, y) pixels."""
    rng = np.random.default_rng(seed)
    h, w = shape
    c = np.array([0.5 * w, 0.47 * h])
    out = {}
    for tier, f, n in (("high", 0.10, 10), ("medium", 0.16, 12), ("low", 0.22, 8)):
        t = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, 0.3, n)
        r = f * min(h, w) * (1 + 0.08 * rng.standard_normal(n))
        out[tier] = np.column_stack([c[0] + r * np.cos(t), c[1] + r * np.sin(t)])
    return out


def time_add_point(image, pts, *, display_max, repeats):
    """Median seconds of add_point (map + blend + Agg redraw), one medium point added and undone."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfmapWarning)
        a = Annotator(image, display_max=display_max, figsize=(6, 6))
        for tier in ("high", "medium", "low"):
            for x, y in pts[tier]:
                a.add_point(x, y, tier=tier)
        h, w = image.shape
        extra = rings(image.shape, seed=1)["medium"]
        times = []
        for k in range(repeats + 1):
            x, y = extra[k % len(extra)]
            t0 = time.perf_counter()
            a.add_point(x, y, tier="medium")
            dt = time.perf_counter() - t0
            if k:  # the first is a warm-up
                times.append(dt)
            a.undo()
        ann = a.annotation
        a.close()
    return statistics.median(times), ann


def time_map(ann, repeats):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfmapWarning)
        confidence_map(ann)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            confidence_map(ann)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def kernel_times(repeats):
    """Per size: ``(shape, map s, add_point s with every pixel drawn, add_point s on the display grid)``."""
    for shape in SIZES:
        image = np.random.default_rng(0).random(shape).astype(np.float32)
        pts = rings(shape)
        full, ann = time_add_point(image, pts, display_max=None, repeats=repeats)
        grid, _ = time_add_point(image, pts, display_max=800, repeats=repeats)
        yield shape, time_map(ann, repeats), full, grid


def kernel_figures(repeats):
    """Figures of kernel-side ``add_point`` at each size (medians): map, every pixel drawn, display grid."""
    from benchmarks.report import claim, figure

    figs = []
    for shape, m, full, grid in kernel_times(repeats):
        key = f"{shape[0]}x{shape[1]}"
        big = shape == SIZES[-1]
        figs.append(
            figure(f"annotator.kernel.{key}.map_ms", 1e3 * m, "ms", label=f"confidence_map at {key}", repeats=repeats)
        )
        figs.append(
            figure(
                f"annotator.kernel.{key}.add_point_ms",
                1e3 * grid,
                "ms",
                baseline=1e3 * full,
                ratio=full / grid,
                label=f"add_point at {key}, display grid (baseline: every pixel drawn)",
                repeats=repeats,
                claim=claim(">=", 1.5, quick=None, text="the display grid makes add_point at 1500x2000 >= 1.5x faster")
                if big
                else None,
            )
        )
    return figs


def _run_browser_test(tmp, *, clicks, slider_moves, nodelay=True, test="tests/test_browser.py") -> None:
    env = dict(
        os.environ,
        CONFMAP_LATENCY_JSON=str(Path(tmp) / "latency.json"),
        CONFMAP_LATENCY_CLICKS=str(clicks),
        CONFMAP_LATENCY_SLIDER_MOVES=str(slider_moves),
        CONFMAP_BROWSER_NODELAY="1" if nodelay else "0",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", test, f"--basetemp={Path(tmp)}/pytest"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{test} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")


def browser_figures(*, clicks=EXTRA_CLICKS, slider_moves=SLIDER_MOVES):
    """Run tests/test_browser.py (both front ends; JupyterLab again without confmap.jupyter) into figures."""
    from benchmarks.report import figure

    reports = {}
    with tempfile.TemporaryDirectory(prefix="confmap-latency-") as tmp:
        _run_browser_test(tmp, clicks=clicks, slider_moves=slider_moves)
        for front in FRONT_ENDS:
            reports[front] = json.loads((Path(tmp) / f"latency-{front}.json").read_text())
    with tempfile.TemporaryDirectory(prefix="confmap-latency-") as tmp:
        test = "tests/test_browser.py::test_annotate_in_jupyterlab[lab]"
        _run_browser_test(tmp, clicks=clicks, slider_moves=slider_moves, nodelay=False, test=test)
        reports["lab_default_server"] = json.loads((Path(tmp) / "latency-lab.json").read_text())
    figs = []
    for front, rep in reports.items():
        extra = {
            "front_end": front,
            "server_nodelay": rep["server_nodelay"],
            "load_average_1min": round(rep["load_average_1min"], 2),
            "clicks_changing_the_map": rep["clicks_changing_the_map"],
            "figure_draws_during_clicks": rep["figure_draws_during_clicks"],
        }
        for key, fid, label in (
            ("browser_click_to_redraw_ms", "click_ms", "click -> first frame with the new map"),
            ("kernel_event_to_overlay_ms", "kernel_click_ms", "kernel: event -> map, layer, figure blend, status"),
            ("click_ws_ms", "click_ws_ms", "click phase 1: mousedown -> ipympl's message on the websocket"),
            ("click_recv_ms", "click_recv_ms", "click phase 2: -> the kernel receives it"),
            ("click_sent_ms", "click_sent_ms", "click phase 3: -> the live layer's update leaves the kernel"),
            ("click_back_ms", "click_back_ms", "click phase 4: -> the update arrives on the page's websocket"),
            ("click_show_ms", "click_show_ms", "click phase 5: -> the layer shows it"),
            ("large_click_to_redraw_ms", "large_click_ms", "768x1024 image: click -> first frame with the new map"),
            ("large_kernel_event_to_overlay_ms", "large_kernel_click_ms", "768x1024 image: the kernel's share"),
            ("explorer_lam_release_to_redraw_ms", "lam_release_ms", "explorer: lambda slider release -> redrawn map"),
            ("explorer_opacity_to_frame_ms", "opacity_ms", "explorer: opacity tap -> first changed frame"),
        ):
            st = rep[key]
            figs.append(
                figure(
                    f"annotator.browser.{front}.{fid}",
                    st["median"],
                    "ms",
                    label=f"{label} (median)",
                    p90=st.get("p90"),
                    min=st["min"],
                    max=st["max"],
                    n=st["n"],
                    **extra,
                )
            )
        d = rep["drag"]
        figs.append(
            figure(
                f"annotator.browser.{front}.drag_map_frames",
                d["map_redraws"],
                "frames",
                label=f"map frames drawn during a {d['moves']}-move drag (16 ms apart)",
                seconds=d["seconds"],
                moves=d["moves"],
                per_second=round(d["map_redraws"] / d["seconds"], 2),
                **extra,
            )
        )
    return figs


def benchmark(*, quick: bool) -> list[dict]:
    """The suite's entry (full mode only): kernel-side figures, then the browser's."""
    return kernel_figures(5 if quick else 11) + browser_figures()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 11
    print(f"load average {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} CPUs; medians of {repeats}")
    print(f"{'image':>11} {'map ms':>8} {'add_point, all px':>18} {'display grid':>13} {'ratio':>6}")
    for shape, m, full, grid in kernel_times(repeats):
        label = f"{shape[0]}x{shape[1]}"
        print(f"{label:>11} {1e3 * m:8.1f} {1e3 * full:18.1f} {1e3 * grid:13.1f} {full / grid:6.2f}")


if __name__ == "__main__":
    main()
