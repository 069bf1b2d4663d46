"""Tests of confmap.widgets.ParameterExplorer, driven through its public methods and controls."""

import matplotlib

matplotlib.use("Agg")

import ipywidgets  # noqa: E402  (required by confmap.widgets; an ImportError here is a failure)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from confmap import Annotation, confidence_map, metrics  # noqa: E402
from confmap.widgets import ParameterExplorer  # noqa: E402

H, W = 48, 56


@pytest.fixture
def ann():
    return Annotation(
        shape=(H, W),
        high=[(24.3, 20.2), (33.1, 21.4), (30.6, 30.9), (23.2, 28.5)],
        medium=[(17.4, 14.1), (40.2, 13.3), (42.7, 36.6), (16.3, 37.2)],
        low=[(8.2, 6.7), (50.5, 7.4), (50.1, 43.3), (7.8, 42.6)],
    )


@pytest.fixture
def agreement():
    yy, xx = np.mgrid[:H, :W]
    r2 = ((xx - 29) / 11.0) ** 2 + ((yy - 25) / 10.0) ** 2
    return np.stack([(r2 < t) for t in (0.6, 0.9, 1.0, 1.3)]).astype(float).mean(axis=0)


@pytest.fixture
def explorer(ann, agreement):
    ex = ParameterExplorer(
        ann,
        image=np.random.default_rng(0).random((H, W)),
        agreement=agreement,
        lam=60,
        bandwidth=0.3,
    )
    yield ex
    ex.close()


def _expected(ex, ann, **kw):
    return confidence_map(ann, ripple_warn=None, **{**ex.params, **kw}).values


def _drawn(ex, opacity=None):
    """What the explorer must show, computed independently in float64: the grey image (0..1 here) in
    the 8-bit colours matplotlib draws it with, viridis(v) over it at alpha ``opacity * v``."""
    from matplotlib import colormaps

    opacity = ex.opacity if opacity is None else opacity
    v = np.clip(ex.map.values, 0, 1)
    grey = colormaps["gray"](ex._image, bytes=True)[..., :3].astype(float)
    colour = colormaps["viridis"](np.round(v * 255).astype(int))[..., :3] * 255
    return grey + (opacity * v)[..., None] * (colour - grey)


def _assert_shows(artist, expected):
    got = np.asarray(artist.get_array(), dtype=float)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 0.51  # the blend is rounded to uint8


def test_initial_state_and_map(explorer, ann, agreement):
    assert explorer.lam == 60 and explorer.betas == (1.0, 0.5, 0.1) and explorer.bandwidth == 0.3
    assert explorer.region == "convex"
    np.testing.assert_array_equal(explorer.map.values, _expected(explorer, ann))
    _assert_shows(explorer._im, _drawn(explorer))
    m = explorer.metrics
    assert m["brier"] == pytest.approx(metrics.brier(explorer.map.values, agreement), rel=1e-12)
    assert m["brier_fg"] == pytest.approx(metrics.brier(explorer.map.values, agreement, region="foreground"), rel=1e-12)
    assert m["soft_dice"] == pytest.approx(metrics.soft_dice(explorer.map.values, agreement), rel=1e-12)
    assert "Brier" in explorer._metrics_label.value and f"{m['soft_dice']:.4f}" in explorer._metrics_label.value


@pytest.mark.parametrize(
    "name, value",
    [("lam", 80), ("beta_h", 0.7), ("beta_m", 0.2), ("beta_l", 0.0), ("bandwidth", 0.5)],
)
def test_slider_change_updates_map_metrics_and_artist(explorer, ann, name, value):
    before = explorer.map.values.copy()
    before_metrics = explorer.metrics
    image_artist = explorer._im
    n = explorer.n_updates
    explorer.controls[name].value = value  # what a user's slider drag does
    assert getattr(explorer, name) == pytest.approx(value)
    assert explorer.n_updates == n + 1
    assert explorer._im is image_artist  # the artist is reused, not redrawn from scratch
    np.testing.assert_array_equal(explorer.map.values, _expected(explorer, ann))
    _assert_shows(image_artist, _drawn(explorer))
    assert not np.array_equal(before, explorer.map.values)
    assert explorer.metrics != before_metrics


def test_property_setter_moves_slider(explorer):
    explorer.lam = 90
    assert explorer.controls["lam"].value == 90
    explorer.betas = (0.9, 0.4, 0.05)
    assert [explorer.controls[k].value for k in ("beta_h", "beta_m", "beta_l")] == [0.9, 0.4, 0.05]
    explorer.bandwidth = 0.2
    assert explorer.controls["bandwidth"].value == pytest.approx(0.2)


def test_set_many_redraws_once(explorer, ann):
    n = explorer.n_updates
    explorer.set(lam=70, beta_m=0.3, bandwidth=0.25)
    assert explorer.n_updates == n + 1
    assert explorer.params == {
        "lam": 70,
        "betas": (1.0, 0.3, 0.1),
        "bandwidth": 0.25,
        "kernel": "full",
        "region": "convex",
    }
    explorer.set(lam=70)  # no change: no recomputation
    assert explorer.n_updates == n + 1


def test_values_beyond_slider_range_widen_it(explorer):
    explorer.set(lam=400, beta_h=2.0, bandwidth=2.0)
    assert explorer.controls["lam"].max >= 400 and explorer.controls["lam"].value == 400
    assert explorer.controls["beta_h"].value == 2.0
    assert explorer.controls["bandwidth"].value == pytest.approx(2.0)


def test_region_mode_and_alpha(ann):
    concave = ann.replace(medium=[(6, 6), (50, 6), (50, 42), (28, 18), (6, 42)])
    ex = ParameterExplorer(concave, lam=60, bandwidth=0.3)
    try:
        assert ex.controls["alpha"].disabled
        convex_map = ex.map.values.copy()
        n = ex.n_updates
        ex.controls["alpha"].value = 5.0  # alpha does not matter for convex regions: no recomputation
        assert ex.n_updates == n and ex.alpha == 5.0
        ex.controls["region"].value = "alpha"
        assert ex.region == "alpha" and not ex.controls["alpha"].disabled
        assert ex.params["alpha"] == 5.0
        np.testing.assert_array_equal(ex.map.values, confidence_map(concave, ripple_warn=None, **ex.params).values)
        assert not np.array_equal(ex.map.values, convex_map)
        ex.alpha = 1e6  # never carve: the convex region again
        np.testing.assert_allclose(ex.map.values, convex_map, atol=1e-12)
        assert ex.metrics is None  # no agreement given
    finally:
        ex.close()


def test_opacity_does_not_recompute(explorer):
    n = explorer.n_updates
    explorer.controls["opacity"].value = 0.3
    assert explorer.n_updates == n
    # alpha rises with confidence: 0.3 * v per pixel (the image unchanged where the map is 0)
    _assert_shows(explorer._im, _drawn(explorer, 0.3))
    assert not np.array_equal(_drawn(explorer, 0.3), _drawn(explorer, 0.8))


def test_warnings_go_to_status_not_raised(ann):
    ex = ParameterExplorer(ann.replace(low=[(8.2, 6.7), (50.5, 7.4)]), lam=12, bandwidth=0.05)
    try:
        text = " ".join(ex.messages)
        assert "NoRegionWarning" in text and "low: 2 distinct points" in text
        assert "RippleWarning" in text
        assert "RippleWarning" not in ex._status.value  # a compact indicator, not the sentence
        attrs = ex.map.attrs
        assert f"ripple {100 * attrs['ripple']:.1f} % — use λ = {attrs['suggested_lam']}" in ex._status.value
        ex.set(lam=200, bandwidth=0.4)
        assert not any("Ripple" in m for m in ex.messages)
    finally:
        ex.close()


def test_annotation_setter_updates_points_and_map(explorer, ann):
    moved = ann.replace(high=[(20.0, 18.0), (30.0, 18.5), (26.0, 27.0)])
    explorer.annotation = moved
    np.testing.assert_array_equal(explorer.map.values, _expected(explorer, moved))
    xs, ys = explorer._scatter["high"].get_data()
    np.testing.assert_array_equal(np.column_stack([xs, ys]), moved.high)
    with pytest.raises(ValueError, match="must keep the image shape"):
        explorer.annotation = Annotation((10, 10), high=[(1, 1), (5, 1), (3, 5)])


@pytest.mark.parametrize(
    "changes, exc, match",
    [
        (dict(lam=0), ValueError, "`lam` must be >= 1"),
        (dict(lam=2.5), TypeError, "`lam` must be an integer"),
        (dict(beta_m=-1), ValueError, "`beta_m` must be >= 0"),
        (dict(bandwidth=0.0), ValueError, "`bandwidth` must be > 0"),
        (dict(region="star"), ValueError, "`region` must be one of"),
        (dict(alpha=-2), ValueError, "`alpha` must be >= 0"),
        (dict(opacity=1.5), ValueError, "`opacity` must be <= 1"),
        (dict(sigma=0.1), TypeError, r"unknown parameter\(s\) \['sigma'\]"),
    ],
)
def test_bad_values_raise_and_change_nothing(explorer, changes, exc, match):
    before = dict(explorer._state)
    n = explorer.n_updates
    with pytest.raises(exc, match=match):
        explorer.set(**{"beta_h": 0.7, **changes})
    assert explorer._state == before and explorer.n_updates == n


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(annotation="points"), TypeError, "`annotation` must be a confmap.Annotation"),
        (dict(image=np.zeros((H + 1, W))), ValueError, "`image` must have shape"),
        (dict(agreement=np.full((H, W), 2.0)), ValueError, r"\[0, 1\]"),
        (
            dict(agreement=np.zeros((H, W - 1))),
            ValueError,
            "`agreement` must have the annotation's image shape",
        ),
        (dict(betas=(1.0, 0.5)), ValueError, "`betas` must be three numbers"),
        (dict(kernel="box"), ValueError, "`kernel` must be one of"),
    ],
)
def test_bad_constructor_input(ann, kwargs, exc, match):
    a = kwargs.pop("annotation", ann)
    with pytest.raises(exc, match=match):
        ParameterExplorer(a, **kwargs)


def test_widget_tree_and_close(ann):
    import ipywidgets as widgets

    ex = ParameterExplorer(ann, lam=50, bandwidth=0.3)
    assert isinstance(ex.widget, widgets.HBox)
    assert set(ex.controls) == {
        "lam",
        "beta_h",
        "beta_m",
        "beta_l",
        "bandwidth",
        "region",
        "alpha",
        "opacity",
    }
    assert "application/vnd.jupyter.widget-view+json" in ex._repr_mimebundle_()
    assert "ParameterExplorer(" in repr(ex)
    fig = ex.figure
    ex.close()
    assert not plt.fignum_exists(fig.number)


def test_undefined_metric_goes_to_status(ann):
    # No regions (empty annotation) and an empty agreement: foreground Brier and soft Dice are
    # undefined (NaN); the explorer reports why instead of raising.
    empty = Annotation((H, W))
    ex = ParameterExplorer(empty, agreement=np.zeros((H, W)), lam=50, bandwidth=0.3)
    try:
        assert np.all(ex.map.values == 0)
        assert np.isnan(ex.metrics["soft_dice"]) and np.isnan(ex.metrics["brier_fg"])
        assert ex.metrics["brier"] == 0.0
        text = " ".join(ex.messages)
        assert "NoRegionWarning" in text and "UndefinedMetricWarning" in text
    finally:
        ex.close()


def test_on_change_callback(explorer):
    seen = []
    explorer.on_change(lambda ex: seen.append((ex.lam, ex.metrics["brier"])))
    explorer.controls["lam"].value = 77
    explorer.opacity = 0.2  # no recomputation, no call
    assert seen == [(77, explorer.metrics["brier"])]
    with pytest.raises(TypeError, match="`callback` must be callable"):
        explorer.on_change("print")
    assert "confmap-explorer" in explorer.widget._dom_classes


@pytest.mark.parametrize("rule", ["scott", "silverman"])
def test_bandwidth_rules_are_accepted_like_the_core(ann, agreement, rule):
    ex = ParameterExplorer(ann, agreement=agreement, lam=60, bandwidth=rule)
    try:
        assert ex.bandwidth == rule and ex.params["bandwidth"] == rule
        np.testing.assert_array_equal(ex.map.values, _expected(ex, ann))
        ex.bandwidth = 0.2  # the slider takes over again
        assert ex.controls["bandwidth"].value == pytest.approx(0.2)
        ex.set(bandwidth=rule)
        np.testing.assert_array_equal(ex.map.values, _expected(ex, ann))
        with pytest.raises(ValueError, match="bandwidth"):
            ex.set(bandwidth="wide")
    finally:
        ex.close()


def test_draws_into_a_given_axes(ann, agreement):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2)
    ex = ParameterExplorer(ann, agreement=agreement, lam=60, ax=right)
    try:
        assert ex.figure is fig and ex._im.axes is right
        np.testing.assert_array_equal(ex.map.values, _expected(ex, ann))
    finally:
        ex.close()
        plt.close(fig)


def test_map_params_is_the_current_setting(explorer, ann):
    from confmap import MapParams

    explorer.set(lam=70, beta_m=0.3)
    p = explorer.map_params
    assert isinstance(p, MapParams) and (p.lam, p.betas[1]) == (70, 0.3)
    np.testing.assert_array_equal(confidence_map(ann, params=p.replace(ripple_warn=None)).values, explorer.map.values)


def test_agreement_contours_in_the_legend_and_metrics_one_per_line(explorer):
    labels = [t.get_text() for t in explorer._ax.get_legend().get_texts()]
    assert {"agreement 0.25", "agreement 0.5", "agreement 0.75"} <= set(labels)
    html = explorer._metrics_label.value
    assert html.count("white-space:nowrap") == 3 and html.count("<br>") == 3
    assert "higher is better" in html  # soft Dice is not "lower is better"


def test_region_label_sits_inline_with_its_buttons(explorer):
    panel = explorer.widget.children[0]
    rows = [c for c in panel.children if isinstance(c, ipywidgets.HBox)]
    assert len(rows) == 1  # the region row: its label, then the buttons, on one line
    label, buttons = rows[0].children
    assert isinstance(label, ipywidgets.Label) and label.value == "region"
    assert buttons is explorer.controls["region"] and buttons.description == ""
    assert rows[0].layout.flex_flow == "row nowrap"


def test_ipympl_toolbar_is_a_fixed_column_beside_the_drawing(ann, agreement):
    from confmap.widgets._figure import TOOLBAR_PX

    old = matplotlib.get_backend()
    plt.switch_backend("module://ipympl.backend_nbagg")
    try:
        ex = ParameterExplorer(ann, image=np.random.default_rng(0).random((H, W)), agreement=agreement)
        canvas = ex.figure.canvas
        assert isinstance(canvas, ipywidgets.DOMWidget)
        assert list(ex.widget.children[1].children) == [canvas, ex._layer]  # the live layer over it
        # always shown (not fading in over the figure on hover), in a column on the left
        assert (canvas.toolbar_visible, canvas.toolbar_position) == ("visible", "left")
        assert not canvas.header_visible and not canvas.footer_visible
        canvas.draw()
        # nothing is drawn in the toolbar's strip: the axes, their title and the legend start right of it
        renderer = canvas.get_renderer()
        ax = ex.figure.axes[0]
        for artist in (ax, ax.title, ax.get_legend()):
            assert artist.get_window_extent(renderer).x0 >= TOOLBAR_PX - 0.5, artist
        ex.close()
    finally:
        plt.switch_backend(old)


def test_colour_bar_shows_the_colour_map_not_the_per_pixel_alpha(explorer):
    cb = explorer._colorbar
    assert cb.mappable is not explorer._im and np.ndim(cb.mappable.get_alpha()) == 0  # one alpha, not per pixel
    assert cb.cmap.name == "viridis" and tuple(cb.mappable.get_clim()) == (0.0, 1.0)


def test_redraws_are_requested_never_pushed(explorer, monkeypatch):
    """With a live ipympl front end, redraws are ``draw_idle`` requests, never a pushed ``draw()``
    (which can race ipympl's resize and leave the figure blank; see ``confmap.widgets._figure``)."""
    canvas = explorer.figure.canvas
    calls = []
    monkeypatch.setattr(canvas, "syncing_data_url", False, raising=False)
    monkeypatch.setattr(canvas, "draw", lambda *args: calls.append("draw"))
    monkeypatch.setattr(canvas, "draw_idle", lambda *args: calls.append("idle"))
    explorer.set(lam=40)
    explorer.set(opacity=0.4)
    assert calls == ["idle", "idle"]
