"""Tests of confmap.widgets._layer: the live layer's kernel side (the browser side is driven by
tests/test_browser.py, which also checks the layer's pixels against the figure's)."""

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest

from confmap import Annotation, ConfmapWarning, confidence_map
from confmap.style import TIER_STYLE
from confmap.widgets import Annotator, ParameterExplorer
from confmap.widgets._figure import DeferredDraw
from confmap.widgets._layer import contour_lines, layer_available, map_block
from confmap.widgets._overlay import blend, colour_lut

H, W = 80, 96
HIGH = [(40.0, 30.0), (60.0, 32.0), (50.0, 50.0)]
MEDIUM = [(25.0, 15.0), (75.0, 18.0), (78.0, 65.0), (22.0, 62.0)]


@pytest.fixture
def image():
    return np.random.default_rng(1).random((H, W))


@pytest.fixture
def live(image):
    made = []

    def _make(**kw):
        a = Annotator(kw.pop("image", image), figsize=(4.0, 4.0), live=True, **kw)
        a.figure.canvas.draw()
        made.append(a)
        return a

    yield _make
    for a in made:
        a.close()


def layer_values(layer):
    """The layer's map bytes on the whole display grid (zero outside the block it carries)."""
    out = np.zeros(layer.shape, np.uint8)
    r, c, h, w = layer.values_box
    out[r : r + h, c : c + w] = np.frombuffer(layer.values, np.uint8).reshape(h, w)
    return out


def to_bytes(values):
    return np.clip(np.floor(255 * np.asarray(values, float) + 0.5), 0, 255).astype(np.uint8)


def js_blend(base_u8, v_u8, opacity, lut_u8):
    """The browser's formula (confmap/widgets/_layer.js), transcribed: base + (opacity v / 255)
    (lut[v] - base), rounded to the nearest byte by Uint8ClampedArray."""
    b = base_u8.astype(float)
    a = (opacity * v_u8 / 255.0)[..., None]
    return np.clip(np.rint(b + a * (lut_u8[v_u8].astype(float) - b)), 0, 255).astype(int)


def test_map_block_rounds_clips_and_crops():
    v = np.array([[0.0, 0.4 / 255, 0.31, 1.0], [-0.2, 1.4, 0.999, 0.0021]])  # no ties at .5
    data, box = map_block(v)
    want = np.array([[int(255 * min(max(x, 0.0), 1.0) + 0.5) for x in row] for row in v.tolist()])
    assert box == [0, 1, 2, 3]  # the first column rounds (and clips) to 0
    np.testing.assert_array_equal(np.frombuffer(data, np.uint8).reshape(2, 3), want[:, 1:])
    grid = np.zeros((7, 9))
    grid[2:4, 3:6] = [[0.5, 0, 0.001], [0, 0.2, 0.0]]  # 0.001 rounds to 0: not in the block
    data, box = map_block(grid)
    assert box == [2, 3, 2, 2] and len(data) == 4
    assert map_block(np.full((5, 5), 0.4 / 255)) == (b"", [0, 0, 0, 0])


def test_layer_carries_the_map_points_and_geometry(live):
    a = live()
    for x, y in HIGH:
        a.add_point(x, y)
    for x, y in MEDIUM:
        a.add_point(x, y, tier="medium")
    layer = a._layer
    assert layer.shape == [H, W] and layer.extent == [-0.5, W - 0.5, -0.5, H - 0.5]
    np.testing.assert_array_equal(layer_values(layer), to_bytes(a.confidence.values))
    by_colour = {m["colour"]: m for m in layer.markers}
    for tier, pts in (("high", HIGH), ("medium", MEDIUM)):
        m = by_colour[TIER_STYLE[tier].colour]
        assert m["marker"] == TIER_STYLE[tier].marker
        np.testing.assert_allclose(np.reshape(m["xy"], (-1, 2)), pts)
    # the box is the axes as drawn (figure fractions), the view its limits
    fw, fh = a.figure.bbox.size
    x0, y0, x1, y1 = a.ax.bbox.extents
    np.testing.assert_allclose(layer.box, [x0 / fw, y0 / fh, x1 / fw, y1 / fh])
    assert layer.view == [-0.5, W - 0.5, H - 0.5, -0.5]


def test_layer_follows_zoom_and_the_map_toggle(live):
    a = live()
    for x, y in HIGH:
        a.add_point(x, y)
    a.ax.set_xlim(10, 50)
    a.ax.set_ylim(60, 20)
    a.figure.canvas.draw()  # the view follows each draw (pan and zoom redraw the figure)
    assert a._layer.view == [10.0, 50.0, 60.0, 20.0]
    a.show_map = False
    assert a._layer.values == b""
    a.show_map = True
    assert layer_values(a._layer).max() == 255


def test_one_message_per_change(live, monkeypatch):
    """A click's map and points leave in one message (hold_sync), before the figure's own blend."""
    a = live()
    sent = []
    monkeypatch.setattr(type(a._layer), "send_state", lambda self, key=None: sent.append(set(key or ())))
    a.add_point(*HIGH[0])
    a.add_point(*HIGH[1])
    a.add_point(*HIGH[2])
    assert sent[-1] >= {"values", "markers"} and len(sent) == 3


def test_browser_blend_matches_the_figure_blend(live):
    """The layer's formula (on bytes) stays within one level of the figure's (on floats)."""
    a = live(image=np.random.default_rng(2).random((H, W)))
    for x, y in HIGH:
        a.add_point(x, y)
    for x, y in MEDIUM:
        a.add_point(x, y, tier="low")
    base = np.frombuffer(a._layer.base, np.uint8).reshape(H, W, 3)
    lut = np.frombuffer(a._layer.lut, np.uint8).reshape(256, 3)
    for opacity in (0.3, 0.8, 1.0):
        a.opacity = opacity
        got = js_blend(base, layer_values(a._layer), a._layer.opacity, lut)
        want = blend(a._base_rgb, a.confidence.values, opacity, colour_lut("viridis")).astype(int)
        assert np.abs(got - want).max() <= 1, opacity


def test_a_drag_updates_the_layer_only_until_the_release(live):
    a = live()
    for x, y in HIGH:
        a.add_point(x, y)
    a.drag_interval_s = 0.0
    before_figure = np.asarray(a._display.get_array()).copy()
    a._drag = {"tier": "high", "index": 1, "start": HIGH[1], "xy": HIGH[1]}
    a.preview_move("high", 1, 70, 40)
    moved = a.annotation.replace(high=[HIGH[0], (70, 40), HIGH[2]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfmapWarning)
        want = confidence_map(moved).values
    np.testing.assert_array_equal(layer_values(a._layer), to_bytes(want))
    np.testing.assert_array_equal(np.asarray(a._display.get_array()), before_figure)  # not yet
    a._drag = None
    a.move_point("high", 1, 70, 40)
    # committed: the figure's artists are current at once (savefig shows it); only the redraw waits
    want = blend(a._base_rgb, a.confidence.values, a.opacity, colour_lut("viridis"))
    np.testing.assert_array_equal(np.asarray(a._display.get_array())[..., :3], want)
    assert a._figure_draw.pending


def test_contours_go_to_the_layer_as_lines(live):
    a = live(contours=True)
    for x, y in HIGH:
        a.add_point(x, y)
    lines = a._layer.lines
    assert lines and {tuple(line["dash"]) for line in lines} <= {(1.5, 2.5), (5.0, 3.0), ()}
    xy = np.concatenate([np.reshape(line["xy"], (-1, 2)) for line in lines])
    assert xy[:, 0].min() >= 0 and xy[:, 0].max() <= W - 1 and xy[:, 1].max() <= H - 1
    # the same lines as matplotlib's contour of the map (contourpy under both)
    cs = plt.figure().add_subplot().contour(np.arange(W), np.arange(H), a.confidence.values, levels=[0.5])
    mpl = np.concatenate([p.vertices for p in cs.get_paths() if len(p.vertices)])
    half = contour_lines(a.confidence.values, [0.5], x=np.arange(W), y=np.arange(H), colour="w", width=1, dashes=[[]])
    ours = np.concatenate([np.reshape(line["xy"], (-1, 2)) for line in half])
    from scipy.spatial import cKDTree

    assert len(ours) == len(mpl)
    assert cKDTree(mpl).query(ours)[0].max() < 0.006 and cKDTree(ours).query(mpl)[0].max() < 0.006  # 2 decimals
    plt.close("all")


def test_explorer_layer(image):
    ann = Annotation((H, W), high=HIGH, medium=MEDIUM)
    agreement = np.zeros((H, W))
    agreement[20:60, 25:75] = 1.0
    ex = ParameterExplorer(ann, image=image, agreement=agreement, live=True)
    try:
        layer = ex._layer
        np.testing.assert_array_equal(layer_values(layer), to_bytes(ex.map.values))
        assert len(layer.lines) >= 3 and {line["colour"] for line in layer.lines} == {"cyan"}
        ex.set(lam=60)
        np.testing.assert_array_equal(layer_values(layer), to_bytes(ex.map.values))
        ex.set(opacity=0.35)
        assert layer.opacity == 0.35
        # the figure's image is current at once (only its redraw waits for the hand to rest)
        want = blend(ex._base_rgb, ex.map.values, 0.35, ex._lut)
        np.testing.assert_array_equal(np.asarray(ex._im.get_array()), want)
        assert ex._figure_draw.pending
        ex.annotation = ann.replace(low=[(10, 70), (30, 72), (20, 78)])
        assert TIER_STYLE["low"].colour in {m["colour"] for m in layer.markers}
    finally:
        ex.close()


def test_deferred_draw_coalesces_requests(monkeypatch):
    fig = plt.figure()
    canvas = fig.canvas
    calls = []
    monkeypatch.setattr(canvas, "draw_idle", lambda *a: calls.append("idle"))
    d = DeferredDraw(canvas, delay_s=5.0)
    d.request()
    d.request()
    assert calls == [] and d.pending  # Agg's timers never fire: nothing drawn yet
    d.flush()
    d.flush()
    assert calls == ["idle"] and not d.pending
    plt.close(fig)


def test_in_jupyter_the_layer_sits_over_the_canvas(ipympl_backend, image):
    import ipywidgets
    from ipywidgets.widgets.widget_link import Link

    a = Annotator(image)
    ex = ParameterExplorer(Annotation((H, W), high=HIGH), image=image)
    try:
        for widget, canvas, layer, slider, link in (
            (a.widget, a.figure.canvas, a._layer, a._opacity_slider, a._opacity_link),
            (ex.widget, ex.figure.canvas, ex._layer, ex.controls["opacity"], ex._opacity_link),
        ):
            assert layer_available(canvas) and layer is not None
            stacks = [w for w in _walk(widget) if isinstance(w, ipywidgets.GridBox)]
            assert len(stacks) == 1 and list(stacks[0].children) == [canvas, layer]
            assert canvas.layout.grid_area == layer.layout.grid_area  # one cell: the layer on top
            assert isinstance(link, Link)  # in the browser: no kernel round trip
            assert link.source == (slider, "value") and link.target == (layer, "opacity")
        # on the ipympl canvas, the figure's redraw waits for the hand to rest
        a.add_point(*HIGH[0])
        assert a._figure_draw.pending
    finally:
        a.close()
        ex.close()


def test_pyplots_post_execute_hook_leaves_the_redraw_deferred(ipympl_backend, image, monkeypatch):
    """In IPython, ``comm`` runs the post-execute hooks after every widget message, and pyplot's
    (``plt.draw_all``) redraws every stale figure: a change must leave the redraw to DeferredDraw."""
    a = Annotator(image)
    ex = ParameterExplorer(Annotation((H, W), high=HIGH), image=image)
    try:
        drawn = []
        for canvas in (a.figure.canvas, ex.figure.canvas):
            monkeypatch.setattr(canvas, "draw_idle", lambda *_, c=canvas: drawn.append(c))
        for x, y in HIGH:
            a.add_point(x, y)
            plt.draw_all()
        a.drag_interval_s = 0.0
        a._drag = {"tier": "high", "index": 1, "start": HIGH[1], "xy": HIGH[1]}
        a.preview_move("high", 1, 70, 40)
        plt.draw_all()
        a._drag = None
        a.move_point("high", 1, 70, 40)
        a.opacity = 0.3
        a.set_tier("low")
        ex.set(lam=60)
        plt.draw_all()
        ex.set(opacity=0.3)
        plt.draw_all()
        assert drawn == []
        a._figure_draw.flush()
        ex._figure_draw.flush()
        assert drawn == [a.figure.canvas, ex.figure.canvas]
    finally:
        a.close()
        ex.close()


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def test_live_is_checked(image):
    with pytest.raises(TypeError, match="`live` must be True, False or None"):
        Annotator(image, live="yes")
    with pytest.raises(TypeError, match="`live`"):
        ParameterExplorer(Annotation((H, W), high=HIGH), live=1)


def test_without_a_front_end_there_is_no_layer(image):
    a = Annotator(image, figsize=(4.0, 4.0))
    try:
        assert not layer_available(a.figure.canvas) and a._layer is None
        a.add_point(*HIGH[0])  # the figure path alone
    finally:
        a.close()
