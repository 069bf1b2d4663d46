"""Tests of confmap.widgets.Annotator: public methods and synthetic matplotlib events (no browser)."""

import json
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.backend_bases import KeyEvent, MouseEvent, NavigationToolbar2

import confmap
from confmap import Annotation
from confmap.widgets import Annotator
from confmap.widgets.annotator import effort_path

H, W = 80, 96
HIGH = [(40.0, 30.0), (60.0, 32.0), (50.0, 50.0)]
MEDIUM = [(25.0, 15.0), (75.0, 18.0), (78.0, 65.0), (22.0, 62.0)]


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def image():
    return np.random.default_rng(0).random((H, W)).astype(np.float32)


@pytest.fixture
def make(image):
    made = []

    def _make(**kw):
        kw.setdefault("figsize", (4.0, 4.0))
        a = Annotator(kw.pop("image", image), **kw)
        a.figure.canvas.draw()  # fix the aspect-adjusted axes position, as a browser draw would
        made.append(a)
        return a

    yield _make
    for a in made:
        a.close()


def _display(a, x, y):
    return a.data_to_display([(x, y)])[0]


def press(a, x, y, *, button=1, key=None, data=True, name="button_press_event"):
    """Send a synthetic mouse event at image point (x, y) (or figure pixels when data=False)."""
    dx, dy = _display(a, x, y) if data else (x, y)
    ev = MouseEvent(name, a.figure.canvas, dx, dy, button=button, key=key)
    a.figure.canvas.callbacks.process(name, ev)
    return ev


def click(a, x, y, **kw):
    press(a, x, y, **kw)
    press(a, x, y, name="button_release_event", **kw)


def key(a, k):
    ev = KeyEvent("key_press_event", a.figure.canvas, k, x=10, y=10)
    a.figure.canvas.callbacks.process("key_press_event", ev)


def core_map(ann, **kw):
    """The independent oracle: the core's map of the same points (its warnings are not the point)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", confmap.ConfmapWarning)
        return confmap.confidence_map(ann, **kw).values


def overlay_values(a):
    """The map values blended over the image, 0 where the overlay is transparent (map <= 0.005)."""
    v = a.overlay_values
    return np.where(v > 0.005, v, 0.0)


def shown(a):
    """The RGB pixels of the displayed (composited) image."""
    return np.asarray(a._display.get_array())[..., :3].astype(int)


def expected_blend(a, base):
    """Image and map composited independently of the widget (matplotlib's own colour map, float64):
    the map's viridis colour at alpha = opacity * value over the image."""
    from matplotlib import colormaps

    v = np.clip(a.confidence.values, 0, 1)
    col = colormaps["viridis"](v, bytes=True)[..., :3].astype(float)
    alpha = (a.opacity * v)[..., None]
    return np.round((1 - alpha) * base + alpha * col).astype(int)


# ----------------------------------------------------------------------------------------------
# public methods
# ----------------------------------------------------------------------------------------------
def test_starts_empty_with_image_metadata(make, image):
    a = make(image_id="case7", annotator="me", spacing=(0.2, 0.25))
    ann = a.annotation
    assert ann.shape == (H, W) and ann.n_points == 0
    assert ann.image_sha256 == confmap.image_sha256(image)
    assert (ann.image_id, ann.annotator, ann.spacing) == ("case7", "me", (0.2, 0.25))
    assert a.tier == "high"
    assert "no map yet" in a.status
    assert not a.can_undo and not a.can_redo


def test_add_points_per_tier_and_status(make):
    a = make()
    for x, y in HIGH:
        a.add_point(x, y)
    a.set_tier("medium")
    a.add_point(*MEDIUM[0])
    idx = a.add_point(*MEDIUM[1])
    assert idx == 1
    a.add_point(5, 5, tier="sinks")
    np.testing.assert_array_equal(a.annotation.high, HIGH)
    np.testing.assert_array_equal(a.annotation.medium, MEDIUM[:2])
    assert a.annotation.counts() == {"high": 3, "medium": 2, "low": 0, "sinks": 1}
    assert a.tier == "medium"
    # The status explains exactly the tiers that have points but no region, with the core's reason.
    reason = confmap.tier_regions(a.annotation)["medium"].reason
    assert reason == "medium: 2 distinct points, 3 needed"
    assert reason in a.status
    assert "high:" not in a.status and "low:" not in a.status
    assert "high 3" in a.status and "medium 2" in a.status and "sinks 1" in a.status


def test_collinear_reason_in_status(make):
    a = make()
    for x in (10, 20, 30):
        a.add_point(x, 40, tier="low")
    assert "low: points are collinear" in a.status


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda a: a.add_point(-1.0, 5), ValueError, "outside the image"),
        (lambda a: a.add_point(5, H), ValueError, "outside the image"),
        (lambda a: a.add_point(float("nan"), 5), ValueError, "`x` must be finite"),
        (lambda a: a.add_point(5, 5, tier="huge"), ValueError, "`tier` must be one of"),
        (lambda a: a.set_tier("sink"), ValueError, "`tier` must be one of"),
        (lambda a: a.move_point("high", 0, 5, 5), ValueError, r"`index` must be in \[0, -1\]"),
        (lambda a: a.remove_point("high", 1.0), TypeError, "`index` must be an integer"),
        (lambda a: setattr(a, "opacity", 1.5), ValueError, "`opacity` must be <= 1"),
        (lambda a: setattr(a, "show_map", "yes"), TypeError, "`show_map` must be True or False"),
        (lambda a: setattr(a, "map_options", {"lambda": 3}), ValueError, "unknown `map_options`"),
        (lambda a: a.save(), ValueError, "`path` is required"),
        (lambda a: a.on_change(3), TypeError, "`callback` must be callable"),
    ],
)
def test_bad_arguments(make, call, exc, match):
    a = make()
    with pytest.raises(exc, match=match):
        call(a)
    assert a.annotation.n_points == 0


def test_bad_constructor_arguments(image):
    with pytest.raises(ValueError, match="`image` must have 2 or 3 dimensions"):
        Annotator(np.zeros(5))
    with pytest.raises(ValueError, match=r"\(H, W, 3\|4\)"):
        Annotator(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="`image` must be finite"):
        Annotator(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match=r"has shape \(10, 10\), but the image has shape"):
        Annotator(image, annotation=Annotation((10, 10)))
    with pytest.raises(ValueError, match="made on another image"):
        Annotator(image, annotation=Annotation((H, W), image_sha256=confmap.image_sha256(image + 1)))


def test_replace_the_annotation_in_one_undo_step(make, image):
    a = make()
    a.add_point(5, 5)
    other = Annotation((H, W), high=HIGH, medium=MEDIUM)
    a.annotation = other
    assert a.annotation.counts() == {"high": 3, "medium": 4, "low": 0, "sinks": 0}
    assert a.annotation.image_sha256 == confmap.image_sha256(image)  # filled in
    np.testing.assert_allclose(a.confidence.values, core_map(other))
    a.undo()
    np.testing.assert_array_equal(a.annotation.high, [(5, 5)])
    with pytest.raises(TypeError, match="must be a confmap.Annotation"):
        a.annotation = {"high": HIGH}


def test_move_remove_nearest(make):
    a = make()
    for x, y in HIGH:
        a.add_point(x, y)
    a.move_point("high", 1, 61.5, 35.25)
    assert tuple(a.annotation.high[1]) == (61.5, 35.25)
    assert a.nearest_point(40.5, 30.0) == ("high", 0, 0.5)
    assert a.remove_nearest(90, 70, max_distance=3) is None
    assert a.remove_nearest(50.5, 49.0) == ("high", 2)
    np.testing.assert_array_equal(a.annotation.high, [HIGH[0], (61.5, 35.25)])
    removed = a.remove_point("high", -1)
    np.testing.assert_array_equal(removed, (61.5, 35.25))
    assert a.annotation.counts()["high"] == 1


def test_undo_redo_and_clear(make):
    a = make()
    assert a.undo() is False and a.redo() is False
    states = [a.annotation]
    for x, y in HIGH:
        a.add_point(x, y)
        states.append(a.annotation)
    a.move_point("high", 0, 41, 31)
    states.append(a.annotation)
    assert a.clear_tier("high") == 3
    assert a.clear_tier("low") == 0  # nothing to clear: no undo step
    assert a.annotation.counts()["high"] == 0
    for expected in reversed(states):
        assert a.undo() is True
        assert a.annotation == expected
        if expected is states[0]:
            break
    assert a.undo() is False
    assert a.redo() and a.redo()
    assert a.annotation == states[2]
    a.add_point(10, 10, tier="low")  # a new change drops the redo history
    assert a.redo() is False
    assert a.annotation.counts() == {"high": 2, "medium": 0, "low": 1, "sinks": 0}
    assert a.effort["undos"] == 5 and a.effort["redos"] == 2 and a.effort["cleared"] == 1


def test_overlay_is_the_core_map_after_every_change(make):
    a = make(map_options={"lam": 40})
    assert overlay_values(a).max() == 0  # no region yet
    base = shown(a)  # the image alone
    for x, y in HIGH:
        a.add_point(x, y)
    expected = core_map(a.annotation, lam=40)
    got = overlay_values(a)
    np.testing.assert_allclose(got[expected > 0.005], expected[expected > 0.005])
    assert np.all(got[expected <= 0.005] == 0)  # transparent where the map is ~0
    np.testing.assert_allclose(shown(a), expected_blend(a, base), atol=2)  # what is drawn
    assert np.array_equal(shown(a)[expected == 0], base[expected == 0])  # the image where the map is 0
    before = got.copy()
    for x, y in MEDIUM:
        a.add_point(x, y, tier="medium")
    assert not np.array_equal(overlay_values(a), before)
    a.undo()
    assert overlay_values(a).max() > 0
    np.testing.assert_allclose(a.confidence.values, core_map(a.annotation, lam=40))
    assert a.confidence.attrs["lam"] == 40
    assert len(a.timings) == 8 and all(t["update_ms"] >= t["map_ms"] >= 0 for t in a.timings)


def test_toggle_and_opacity(make):
    a = make()
    base = shown(a)
    for x, y in HIGH:
        a.add_point(x, y)
    a.opacity = 0.25
    assert a._opacity_slider.value == 0.25
    np.testing.assert_allclose(shown(a), expected_blend(a, base), atol=2)
    faint = shown(a)
    a._opacity_slider.value = 0.8
    assert a.opacity == 0.8
    np.testing.assert_allclose(shown(a), expected_blend(a, base), atol=2)
    assert not np.array_equal(shown(a), faint)
    a._map_toggle.value = False
    assert a.show_map is False and np.array_equal(shown(a), base) and not a.overlay_values.any()
    a.add_point(*MEDIUM[0], tier="medium")  # hidden map: not recomputed until shown again
    a.show_map = True
    assert a._map_toggle.value is True and not np.array_equal(shown(a), base)
    np.testing.assert_allclose(a.confidence.values, core_map(a.annotation))


def test_ripple_is_a_compact_indicator_with_a_one_click_remedy(make):
    a = make(map_options={"lam": 12})  # a coarse grid: the lattice shows
    for x, y in HIGH:
        a.add_point(x, y)
    for x, y in MEDIUM:
        a.add_point(x, y, tier="medium")
    with pytest.warns(confmap.RippleWarning):  # the oracle: the core's own attrs of the same map
        attrs = confmap.confidence_map(a.annotation, lam=12).attrs
    want = f"ripple {100 * attrs['ripple']:.1f} % — use λ = {attrs['suggested_lam']}"
    assert a.ripple == want and a.status.endswith(" | " + want)
    assert "RippleWarning" not in a.status and "lattice" not in a.status  # no paragraph
    assert a._ripple_button.layout.display is None
    assert a._ripple_button.description == f"use λ = {attrs['suggested_lam']}"
    a._ripple_button.click()
    assert a.map_options["lam"] == attrs["suggested_lam"]
    assert a.ripple is None and "ripple" not in a.status and a._ripple_button.layout.display == "none"
    np.testing.assert_allclose(a.confidence.values, core_map(a.annotation, lam=attrs["suggested_lam"]))


def test_status_html_keeps_the_legend_apart(make):
    a = make()
    assert a.status.startswith("tier: high | high 0")
    html = a._status.value
    assert "sink" not in html.split("<code>")[1].split("</code>")[0].split("|")[0]  # legend not in the text
    assert ">high</span>" in html  # the current tier as a badge
    assert "HIGH" in a._tier_badge.value
    a.set_tier("sinks")
    assert "SINK" in a._tier_badge.value and ">sink</span>" in a._status.value


def test_buttons_call_the_methods(make, tmp_path):
    a = make(path=tmp_path / "a.json")
    a._tier_buttons.value = "low"
    assert a.tier == "low"
    a.add_point(10, 10)
    a.add_point(20, 10)
    a._undo_button.click()
    assert a.annotation.counts()["low"] == 1
    a._redo_button.click()
    assert a.annotation.counts()["low"] == 2
    a._clear_button.click()
    assert a.annotation.counts()["low"] == 0
    a._save_button.click()
    assert Annotation.load(tmp_path / "a.json") == a.annotation


# ----------------------------------------------------------------------------------------------
# synthetic events
# ----------------------------------------------------------------------------------------------
def test_keys_work_from_the_controls_after_a_button_click(make):
    a = make()
    a._tier_buttons.value = "low"  # the focus is now on a button: its keydowns come via ipyevents
    a._on_dom_key({"key": "2"})
    assert a.tier == "medium" and a._tier_buttons.value == "medium"
    a.add_point(10, 10)
    a.add_point(20, 10)
    a._on_dom_key({"key": "z", "ctrlKey": True})
    assert a.annotation.counts()["medium"] == 1
    a._on_dom_key({"key": "Z", "ctrlKey": True, "shiftKey": True})
    assert a.annotation.counts()["medium"] == 2
    a._on_dom_key({"key": "Shift", "shiftKey": True})  # a bare modifier does nothing
    assert a.handle_key("1") and a.tier == "high"
    assert not a.handle_key("q")
    assert a._key_events is not None and a._key_events.source is a._box


def test_keys_switch_tiers_and_clicks_add_there(make):
    a = make()
    targets = {"1": "high", "2": "medium", "3": "low", "4": "sinks"}
    for i, (k, tier) in enumerate(targets.items()):
        key(a, k)
        assert a.tier == tier and a._tier_buttons.value == tier
        click(a, 10.0 + 20 * i, 12.25 + 5 * i)
    for i, tier in enumerate(targets.values()):
        pts = a.annotation.points(tier)
        assert pts.shape == (1, 2)
        np.testing.assert_allclose(pts[0], (10.0 + 20 * i, 12.25 + 5 * i), atol=1e-6)
    assert a.effort["clicks"] == 4 and a.effort["tier_switches"] == 3
    key(a, "z")
    assert a.annotation.counts()["sinks"] == 0
    key(a, "ctrl+y")
    assert a.annotation.counts()["sinks"] == 1
    key(a, "x")  # unbound: nothing happens
    assert a.annotation.n_points == 4


def test_clicks_outside_the_image_are_ignored(make):
    a = make()
    a.ax.set_xlim(-20, W + 20)  # zoomed out: the axes show margins around the image
    a.ax.set_ylim(H + 20, -20)
    a.figure.canvas.draw()
    click(a, -5, 10)
    click(a, 10, H + 3)
    click(a, 2, 2, data=False)  # figure corner: outside the axes
    assert a.annotation.n_points == 0
    assert a.effort["ignored_clicks"] == 2 and a.effort["clicks"] == 0
    click(a, -0.4, H - 0.6)  # the edge pixels are inside
    np.testing.assert_allclose(a.annotation.high, [(-0.4, H - 0.6)], atol=1e-6)


@pytest.mark.parametrize("mode", ["PAN", "ZOOM"])
def test_pan_zoom_mode_adds_nothing(make, mode):
    a = make()
    toolbar = NavigationToolbar2(a.figure.canvas)  # what a GUI backend attaches
    toggle = toolbar.pan if mode == "PAN" else toolbar.zoom
    toggle()
    assert a.ax.get_navigate_mode() == mode
    click(a, 20, 20)
    click(a, 20, 20, button=3)
    assert a.annotation.n_points == 0
    toggle()
    click(a, 20, 20)
    assert a.annotation.n_points == 1


def test_drag_moves_a_point_in_one_undo_step(make):
    a = make()
    for x, y in HIGH:
        a.add_point(x, y)
    press(a, 60.3, 32.2)  # within pick radius of HIGH[1]
    for x in (62, 64, 66):
        press(a, x, 35, name="motion_notify_event")
    press(a, 66, 36, name="button_release_event")
    np.testing.assert_allclose(a.annotation.high[1], (66, 36), atol=1e-6)
    assert a.annotation.counts()["high"] == 3
    assert a.effort["moved"] == 1
    a.undo()
    np.testing.assert_array_equal(a.annotation.high, HIGH)
    # Pressing on a point and releasing in place changes nothing.
    click(a, *HIGH[0])
    np.testing.assert_array_equal(a.annotation.high, HIGH)
    # ... is not an edit: the undone move stays redoable and is still counted once.
    assert a.can_redo
    assert a.effort["moved"] == 1
    assert a.redo()
    np.testing.assert_allclose(a.annotation.high[1], (66, 36), atol=1e-6)
    assert not a.can_redo


def test_drag_shows_the_map_of_the_moving_point(make):
    a = make()
    for x, y in HIGH:
        a.add_point(x, y)
    a.drag_interval_s = 0.0  # every motion event gets a frame (the default coalesces to <= 12.5 Hz)
    at_rest = shown(a)
    press(a, 60.3, 32.2)
    press(a, 70, 40, name="motion_notify_event")
    assert a.drag_redraws == 1
    np.testing.assert_array_equal(a.annotation.high, HIGH)  # nothing committed yet
    moved = a.annotation.replace(high=[HIGH[0], (70, 40), HIGH[2]])
    preview = core_map(moved)
    assert not np.array_equal(shown(a), at_rest)
    np.testing.assert_allclose(a._map.values, preview)  # the preview is the exact map there
    a.drag_interval_s = 10.0  # now coalesced: no frame for these
    press(a, 71, 41, name="motion_notify_event")
    press(a, 72, 42, name="motion_notify_event")
    assert a.drag_redraws == 1
    press(a, 72, 42, name="button_release_event")
    np.testing.assert_allclose(a.annotation.high[1], (72, 42))
    np.testing.assert_allclose(a.confidence.values, core_map(a.annotation))
    with pytest.raises(IndexError, match="`index`"):
        a.preview_move("high", 7, 1, 1)


def test_large_image_is_drawn_on_a_display_grid_with_exact_coordinates(image):
    big = np.random.default_rng(1).random((300, 200))
    a = Annotator(big, display_max=100, figsize=(4.0, 4.0), map_options={"lam": 40})
    try:
        a.figure.canvas.draw()
        assert a._step == 3 and a._display.get_array().shape == (100, 67, 4)
        assert a.ax.get_xlim() == (-0.5, 199.5) and a.ax.get_ylim() == (299.5, -0.5)
        for x, y in [(50.4, 80.2), (150.7, 90.1), (100.2, 220.6)]:
            click(a, x, y)
        np.testing.assert_allclose(a.annotation.high, [(50.4, 80.2), (150.7, 90.1), (100.2, 220.6)], atol=1e-6)
        v = np.clip(core_map(a.annotation, lam=40)[::3, ::3], 0, 1)
        from matplotlib import colormaps

        base = colormaps["gray"]((big[::3, ::3] - big.min()) / (big.max() - big.min()), bytes=True)[..., :3]
        alpha = (a.opacity * v)[..., None]
        want = (1 - alpha) * base + alpha * colormaps["viridis"](v, bytes=True)[..., :3]
        np.testing.assert_allclose(np.asarray(a._display.get_array())[..., :3], want, atol=3)
        assert a.confidence.shape == (300, 200)  # the map itself at every pixel
    finally:
        a.close()
    with pytest.raises(ValueError, match="`display_max`"):
        Annotator(big, display_max=0)


def test_contours_at_quarter_levels(make):
    a = make(contours=True)
    for x, y in HIGH:
        a.add_point(x, y)
    assert list(a._contour_set.levels) == [0.25, 0.5, 0.75]
    a.show_map = False
    assert a._contour_set is None


@pytest.mark.parametrize("how", ["right", "shift"])
def test_delete_nearest_by_right_click_or_shift(make, how):
    a = make()
    for x, y in HIGH:
        a.add_point(x, y)
    a.add_point(*MEDIUM[0], tier="medium")
    kw = {"button": 3} if how == "right" else {"button": 1, "key": "shift"}
    click(a, 26.0, 15.5, **kw)
    assert a.annotation.counts() == {"high": 3, "medium": 0, "low": 0, "sinks": 0}
    click(a, 5, 75, **kw)  # nothing near: nothing deleted, nothing added
    assert a.annotation.n_points == 3
    assert a.effort["removed"] == 1


# ----------------------------------------------------------------------------------------------
# files and effort
# ----------------------------------------------------------------------------------------------
def test_autosave_after_every_change_and_resume(make, image, tmp_path):
    path = tmp_path / "sub" / "case.json"
    clock = FakeClock()
    a = make(path=path, clock=clock, idle_cap_s=30)
    seen = []
    a.on_change(lambda ann: seen.append(Annotation.load(path)))
    for x, y in HIGH:
        clock.t += 2.0
        a.add_point(x, y)
        assert Annotation.load(path) == a.annotation  # written before anyone could notice
    clock.t += 500.0  # a long pause counts only idle_cap_s
    a.add_point(*MEDIUM[0], tier="medium")
    clock.t += 1.0
    a.undo()
    assert [s.n_points for s in seen] == [1, 2, 3, 4, 3]
    effort = json.loads(effort_path(path).read_text())
    assert effort["format"] == "confmap.effort" and effort["annotation"] == "case.json"
    assert effort["added"] == 4 and effort["undos"] == 1 and effort["sessions"] == 1
    assert effort["active_s"] == pytest.approx(2 + 2 + 30 + 1)
    assert [e[1] for e in effort["events"]] == ["add"] * 4 + ["undo"]
    assert effort["counts"] == {"high": 3, "medium": 0, "low": 0, "sinks": 0}
    assert not list(path.parent.glob("*.tmp"))  # atomic writes leave no temporaries

    # "Kernel restart": a new Annotator on the same path resumes points and effort.
    b = make(path=path)
    assert b.annotation == a.annotation
    assert b.effort["added"] == 4 and b.effort["sessions"] == 2
    b.add_point(1, 1, tier="low")
    assert Annotation.load(path).counts()["low"] == 1
    assert json.loads(effort_path(path).read_text())["added"] == 5


def test_resume_refuses_another_image(make, image, tmp_path):
    path = tmp_path / "case.json"
    a = make(path=path)
    a.add_point(3, 3)
    with pytest.raises(ValueError, match="made on another image"):
        Annotator(image[::-1].copy(), path=path)


def test_save_load_round_trip(make, tmp_path):
    a = make(autosave=False)
    for x, y in HIGH:
        a.add_point(x, y)
    for x, y in MEDIUM:
        a.add_point(x, y, tier="medium")
    out = a.save(tmp_path / "x.json")
    assert out == tmp_path / "x.json"
    assert Annotation.load(out) == a.annotation
    b = make()
    b.add_point(5, 5)
    loaded = b.load(out)
    assert loaded == a.annotation == b.annotation
    assert not b.can_undo  # loading starts a fresh history
    assert b.effort["added"] == 7 and b.effort["sessions"] == 2
    np.testing.assert_allclose(b.confidence.values, a.confidence.values)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        b.load(tmp_path / "bad.json")
    assert b.annotation == a.annotation
    with pytest.raises(ValueError, match="shape"):
        b.load(Annotation((5, 5)).save(tmp_path / "small.json"))


def test_effort_counts_clicks_and_undos(make, tmp_path):
    a = make(path=tmp_path / "e.json")
    click(a, 10, 10)
    click(a, 30, 10)
    click(a, 30, 10, button=3)
    key(a, "z")
    key(a, "2")
    e = json.loads(effort_path(tmp_path / "e.json").read_text())
    assert (e["clicks"], e["added"], e["removed"], e["undos"]) == (3, 2, 1, 1)
    assert a.effort["tier_switches"] == 1  # tier switches are logged, saved with the next change
    assert e["started"] is not None and e["last_change"] is not None


# ----------------------------------------------------------------------------------------------
# the ipympl backend (what JupyterLab uses)
# ----------------------------------------------------------------------------------------------
def test_ipympl_widget_and_toolbar_modes(ipympl_backend, image):
    import ipywidgets

    a = Annotator(image)
    try:
        canvas = a.figure.canvas
        assert isinstance(canvas, ipywidgets.DOMWidget)
        stack = a.widget.children[1]  # the canvas with the live layer over it, in one grid cell
        assert list(stack.children) == [canvas, a._layer]
        assert "application/vnd.jupyter.widget-view+json" in a._repr_mimebundle_()
        canvas.draw()
        canvas.toolbar.pan()  # the toolbar's pan button
        click(a, 20, 20)
        canvas.toolbar.pan()  # off again
        canvas.toolbar.zoom()
        click(a, 20, 20)
        canvas.toolbar.zoom()
        assert a.annotation.n_points == 0
        click(a, 20, 20)
        np.testing.assert_allclose(a.annotation.high, [(20, 20)], atol=1e-6)
    finally:
        a.close()


def test_cursor_readout_shows_image_and_map_values(make):
    from types import SimpleNamespace

    a = make()
    for x, y in HIGH:
        a.add_point(x, y)
    x, y = HIGH[0]
    row, col = int(round(y)), int(round(x))
    data = a._display.get_cursor_data(SimpleNamespace(xdata=x, ydata=y))
    text = a._display.format_cursor_data(data)
    assert f"map {a.confidence.values[row, col]:.2f}" in text and text.startswith("[image ")
    assert a._display.get_cursor_data(SimpleNamespace(xdata=-5.0, ydata=1.0)) is None


def test_draws_into_a_given_axes_and_is_a_view_over_its_session():

    from confmap.session import AnnotationSession

    fig, (left, right) = plt.subplots(1, 2)
    image = np.random.default_rng(1).random((40, 50))
    a = Annotator(image, ax=left)
    try:
        assert a.figure is fig and a.ax is left
        a.add_point(10, 10)
        assert isinstance(a.session, AnnotationSession) and a.session.annotation is a.annotation
        a.session.add_point(20, 12)  # an edit through the model redraws the view
        np.testing.assert_array_equal(a._scatter["high"].get_offsets(), a.annotation.high)
        a.close()
        assert plt.fignum_exists(fig.number)  # a given figure stays open
    finally:
        plt.close(fig)


def test_map_options_values_are_checked_by_the_construction_rules():
    image = np.zeros((20, 20))
    with pytest.raises(ValueError, match="`lam` must be >= 1"):
        Annotator(image, map_options={"lam": 0})
    with pytest.raises(ValueError, match="`bandwidth`"):
        Annotator(image, map_options={"bandwidth": "wide"})


# ------------------------------------------------------------------------------ a killed kernel
_ANNOTATOR_CHILD = r"""
import pathlib, sys, time
import matplotlib
matplotlib.use("Agg")
import numpy as np
from confmap.widgets import Annotator

path, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
image = np.random.default_rng(0).random((60, 80)).astype(np.float32)
a = Annotator(image, path=path)
rng = np.random.default_rng(1)
for i in range(n):
    a.add_point(*rng.uniform(2, 58, 2), tier=("high", "medium", "low")[i % 3])
(path.parent / "clicked").write_text(str(n))
time.sleep(600)  # a kernel that is killed, not shut down
"""


def test_killing_the_kernel_after_n_clicks_keeps_all_n_points(tmp_path):
    """No browser: an Annotator in a subprocess, N add_point calls, then SIGKILL; reopening the
    file (as a new Annotator would) gives all N points, in order."""
    import os
    import signal
    import subprocess
    import sys
    import time

    n = 25
    path = tmp_path / "ann.json"
    with subprocess.Popen(
        [sys.executable, "-c", _ANNOTATOR_CHILD, str(path), str(n)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as child:
        try:
            deadline = time.monotonic() + 120
            while not (tmp_path / "clicked").exists():
                assert child.poll() is None, child.stdout.read().decode()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(timeout=60) == -signal.SIGKILL
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    ann = Annotation.load(path)
    assert ann.n_points == n
    rng = np.random.default_rng(1)
    expected = {"high": [], "medium": [], "low": []}
    for i in range(n):
        expected[("high", "medium", "low")[i % 3]].append(rng.uniform(2, 58, 2))
    for tier, pts in expected.items():
        np.testing.assert_array_equal(ann.points(tier), np.array(pts))
    image = np.random.default_rng(0).random((60, 80)).astype(np.float32)
    a = Annotator(image, path=path)
    try:
        assert a.annotation == ann and a.effort["added"] == n
    finally:
        a.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann.effort.json", "ann.json", "clicked"]


def test_redraws_are_requested_never_pushed(make, monkeypatch):
    """Even with a live ipympl front end (``syncing_data_url`` False), every redraw is a
    ``draw_idle`` request: ipympl keeps one frame in flight, and a pushed ``draw()`` can race the
    front end's resize and leave the figure blank (see ``confmap.widgets._figure``)."""
    a = make()
    canvas = a.figure.canvas
    calls = []
    monkeypatch.setattr(canvas, "syncing_data_url", False, raising=False)
    monkeypatch.setattr(canvas, "draw", lambda *args: calls.append("draw"))
    monkeypatch.setattr(canvas, "draw_idle", lambda *args: calls.append("idle"))
    a.add_point(20.0, 20.0, tier="high")
    a.opacity = 0.3
    a.undo()
    assert calls and set(calls) == {"idle"}
