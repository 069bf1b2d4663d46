"""Tests of confmap.sweep: values equal direct confidence_map + metrics calls, dims, best, plots."""

import itertools
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from confmap import (  # noqa: E402
    Annotation,
    NoRegionWarning,
    RippleWarning,
    confidence_map,
    metrics,  # noqa: E402
)
from confmap.sweep import PARAMETERS, best, plot_sweep, setting_kwargs, sweep  # noqa: E402

H, W = 60, 72


@pytest.fixture(scope="module")
def ann():
    return Annotation(
        shape=(H, W),
        high=[(30.3, 25.2), (42.1, 27.4), (38.6, 38.9), (29.2, 35.5)],
        medium=[(22.4, 18.1), (50.2, 17.3), (52.7, 44.6), (36.1, 30.0), (20.3, 45.2)],
        low=[(12.2, 9.7), (62.5, 10.4), (63.1, 53.3), (11.8, 52.6)],
        image_id="phantom-0",
    )


@pytest.fixture(scope="module")
def targets():
    yy, xx = np.mgrid[:H, :W]
    r2 = ((xx - 37) / 14.0) ** 2 + ((yy - 31) / 12.0) ** 2
    truth = np.clip(1.3 - r2, 0, 1)
    masks = np.stack([(r2 < t) for t in (0.6, 0.85, 1.0, 1.3)]).astype(float)
    return masks.mean(axis=0), truth


def _direct(ann, target, metric, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RippleWarning)
        cm = confidence_map(ann, ripple_warn=None, **kw).values
    if metric == "brier":
        return metrics.brier(cm, target)
    if metric == "brier_fg":
        return metrics.brier(cm, target, region="foreground")
    return metrics.soft_dice(cm, target)


SWEEPS = [
    dict(lam=[20, 36], bandwidth=[0.2, 0.35]),
    dict(beta_h=[1.0, 0.8], beta_m=[0.2, 0.5], beta_l=[0.0, 0.1], lam=30, bandwidth=0.3),
    dict(region=["convex", "alpha"], alpha=[None, 6.0], lam=30, bandwidth=[0.25, "scott"]),
]


@pytest.mark.parametrize("params", SWEEPS, ids=["lam-bw", "betas", "region-alpha"])
def test_values_equal_direct_calls(ann, targets, params):
    agreement, truth = targets
    ds = sweep(ann, agreement=agreement, truth=truth, progress=False, ripple_warn=None, **params)
    swept = [p for p in PARAMETERS if isinstance(params.get(p), list)]
    assert list(ds.brier.dims) == ["target", *swept]
    assert list(ds.ripple.dims) == swept
    grids = [params[p] for p in swept]
    for combo in itertools.product(*grids):
        setting = {
            **{k: v for k, v in params.items() if k not in swept},
            **dict(zip(swept, combo, strict=True)),
        }
        kw = {
            "lam": setting.get("lam", 100),
            "betas": (
                setting.get("beta_h", 1.0),
                setting.get("beta_m", 0.5),
                setting.get("beta_l", 0.1),
            ),
            "bandwidth": setting.get("bandwidth", 0.1),
            "region": setting.get("region", "convex"),
        }
        if kw["region"] == "alpha":
            kw["alpha"] = setting.get("alpha")
        sel = {p: (0.0 if p == "alpha" and v is None else v) for p, v in zip(swept, combo, strict=True)}
        for name, target in (("agreement", agreement), ("truth", truth)):
            for metric in ("brier", "brier_fg", "soft_dice"):
                got = float(ds[metric].sel(target=name, **sel))
                want = _direct(ann, target, metric, **kw)
                assert got == pytest.approx(want, rel=1e-12, abs=1e-15), (metric, name, setting)


def test_alpha_region_differs_from_convex(ann, targets):
    # A concave medium tier: the carved region must change the map (the sweep is not flat).
    concave = ann.replace(medium=[(10, 10), (60, 10), (60, 50), (35, 22), (10, 50)])
    ds = sweep(
        concave,
        agreement=targets[0],
        region=["convex", "alpha"],
        lam=30,
        bandwidth=0.3,
        progress=False,
        ripple_warn=None,
    )
    assert float(ds.brier.sel(region="convex")) != float(ds.brier.sel(region="alpha"))


def test_fixed_parameters_are_scalar_coords(ann, targets):
    ds = sweep(
        ann,
        agreement=targets[0],
        lam=[24, 30],
        beta_m=0.4,
        bandwidth=0.3,
        progress=False,
        ripple_warn=None,
    )
    assert ds.brier.dims == ("lam",)
    assert ds["lam"].values.tolist() == [24, 30]
    assert ds["lam"].dtype == np.int64
    for name, value in (
        ("beta_m", 0.4),
        ("beta_h", 1.0),
        ("beta_l", 0.1),
        ("bandwidth", 0.3),
        ("region", "convex"),
    ):
        assert ds[name].ndim == 0 and ds[name].item() == value
    assert "alpha" not in ds.coords
    assert ds["target"].item() == "agreement" and "target" not in ds.dims
    assert ds.brier.attrs["better"] == "lower"
    assert ds.attrs["image_id"] == "phantom-0"
    assert np.all(np.isfinite(ds.brier))
    for lam in (24, 30):  # the predicted ripple is the one the map itself reports
        cm = confidence_map(ann, lam=lam, betas=(1.0, 0.4, 0.1), bandwidth=0.3, ripple_warn=None)
        assert float(ds.ripple.sel(lam=lam)) == pytest.approx(cm.attrs["ripple"], rel=1e-12, abs=1e-15)


def test_length_one_list_is_a_dimension(ann, targets):
    ds = sweep(ann, truth=targets[1], bandwidth=[0.3], lam=30, progress=False, ripple_warn=None)
    assert ds.brier.dims == ("bandwidth",) and ds.sizes["bandwidth"] == 1
    assert ds["target"].item() == "truth"


def test_no_sweep_gives_scalars(ann, targets):
    ds = sweep(
        ann,
        agreement=targets[0],
        lam=30,
        bandwidth=0.3,
        metrics=("soft_dice",),
        progress=False,
        ripple_warn=None,
    )
    assert list(ds.data_vars) == ["soft_dice", "ripple"]
    assert ds.soft_dice.ndim == 0
    assert float(ds.soft_dice) == pytest.approx(_direct(ann, targets[0], "soft_dice", lam=30, bandwidth=0.3), rel=1e-12)


def test_sinks_are_honoured(ann, targets):
    sunk = ann.replace(sinks=[(36.0, 31.0)])
    ds = sweep(sunk, agreement=targets[0], lam=[30, 40], bandwidth=0.3, progress=False, ripple_warn=None)
    for lam in (30, 40):
        want = _direct(sunk, targets[0], "brier", lam=lam, bandwidth=0.3)
        assert float(ds.brier.sel(lam=lam)) == pytest.approx(want, rel=1e-12)
    assert float(ds.brier.sel(lam=30)) != float(
        sweep(ann, agreement=targets[0], lam=30, bandwidth=0.3, progress=False, ripple_warn=None).brier
    )


def test_all_zero_weights_warn_once_and_give_zero_map(ann, targets):
    with pytest.warns(NoRegionWarning, match="all zeros") as rec:
        ds = sweep(
            ann,
            agreement=targets[0],
            beta_h=0.0,
            beta_m=0.0,
            beta_l=[0.0, 0.1],
            lam=30,
            bandwidth=0.3,
            progress=False,
            ripple_warn=None,
        )
    assert sum("all zeros" in str(r.message) for r in rec) == 1
    zero = metrics.brier(np.zeros((H, W)), targets[0])
    assert float(ds.brier.sel(beta_l=0.0)) == pytest.approx(zero, rel=1e-12)
    assert float(ds.ripple.sel(beta_l=0.0)) == 0.0


def test_missing_tier_warns_once(ann, targets):
    two = ann.replace(low=[(5.0, 5.0), (60.0, 5.0)])
    with pytest.warns(NoRegionWarning, match="low: 2 distinct points") as rec:
        sweep(
            two,
            agreement=targets[0],
            lam=[24, 30],
            bandwidth=[0.3, 0.4],
            progress=False,
            ripple_warn=None,
        )
    assert sum("low: 2 distinct" in str(r.message) for r in rec) == 1


def test_ripple_summarised_in_one_warning(ann, targets):
    with pytest.warns(RippleWarning, match=r"of 4 settings have a kernel narrow") as rec:
        ds = sweep(ann, agreement=targets[0], lam=[10, 60], bandwidth=[0.05, 0.4], progress=False)
    assert len([r for r in rec if r.category is RippleWarning]) == 1
    assert float(ds.ripple.sel(lam=10, bandwidth=0.05)) > 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sweep(
            ann,
            agreement=targets[0],
            lam=[10, 60],
            bandwidth=[0.05, 0.4],
            progress=False,
            ripple_warn=None,
        )


def test_progress_bar_runs(ann, targets, capsys):
    sweep(ann, agreement=targets[0], lam=[24, 30], bandwidth=0.3, progress=True, ripple_warn=None)
    assert "sweep" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(), ValueError, "at least one target"),
        (dict(agreement=np.zeros((H, W + 1))), ValueError, "shape"),
        (dict(agreement=np.full((H, W), 1.5)), ValueError, r"\[0, 1\]"),
        (dict(truth=np.full((H, W), np.nan)), ValueError, "finite"),
        (dict(metrics=("brier", "auc")), ValueError, "`metrics` must be one of"),
        (dict(metrics="brier"), TypeError, "`metrics` must be a non-empty sequence"),
        (dict(lam=[20, 20]), ValueError, "must not repeat"),
        (dict(lam=[]), ValueError, "at least one value"),
        (dict(lam=[20, 2.5]), TypeError, r"`lam\[1\]` must be an integer"),
        (dict(beta_m=-0.1), ValueError, "`beta_m` must be >= 0"),
        (dict(bandwidth=[0.1, 0.0]), ValueError, r"`bandwidth\[1\]` must be > 0"),
        (dict(bandwidth="wide"), ValueError, "`bandwidth` must be one of"),
        (dict(region="concave"), ValueError, "`region` must be one of"),
        (dict(alpha=[-1.0]), ValueError, r"`alpha\[0\]` must be >= 0"),
        (dict(kernel="box"), ValueError, "`kernel` must be one of"),
    ],
)
def test_bad_input(ann, targets, kwargs, exc, match):
    kw = dict(progress=False, **kwargs)
    if kwargs and "agreement" not in kwargs and "truth" not in kwargs:
        kw["agreement"] = targets[0]
    with pytest.raises(exc, match=match):
        sweep(ann, **kw)


def test_bad_annotation(targets):
    with pytest.raises(TypeError, match="`annotation` must be a confmap.Annotation"):
        sweep({"high": []}, agreement=targets[0])


# ---------------------------------------------------------------------------------------------
# best()
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def hand():
    vals = np.array([[0.5, 0.2, np.nan], [0.3, 0.1, 0.4]])
    return xr.Dataset(
        {
            "brier": (("lam", "bandwidth"), vals, {"better": "lower"}),
            "auc": (("lam", "bandwidth"), -vals),
        },
        coords={"lam": [50, 100], "bandwidth": [0.05, 0.1, 0.2], "region": "convex"},
    )


def test_best_on_hand_made_dataset(hand):
    assert best(hand, "brier") == {"lam": 100, "bandwidth": 0.1, "region": "convex", "brier": 0.1}
    assert best(hand, "brier", maximize=True) == {
        "lam": 50,
        "bandwidth": 0.05,
        "region": "convex",
        "brier": 0.5,
    }
    assert best(hand, "auc", maximize=True)["auc"] == -0.1
    hand["auc"].attrs["better"] = "higher"
    assert best(hand, "auc") == {"lam": 100, "bandwidth": 0.1, "region": "convex", "auc": -0.1}
    assert isinstance(best(hand, "brier")["lam"], int)


def test_best_ties_go_to_first():
    ds = xr.Dataset({"m": ("lam", [0.2, 0.1, 0.1])}, coords={"lam": [10, 20, 30]})
    assert best(ds, "m")["lam"] == 20


def test_best_target_selection():
    ds = xr.Dataset(
        {"brier": (("target", "lam"), [[0.3, 0.1], [0.05, 0.2]])},
        coords={"target": ["agreement", "truth"], "lam": [10, 20]},
    )
    with pytest.raises(ValueError, match="`target` must be given"):
        best(ds, "brier")
    assert best(ds, "brier", target="agreement")["lam"] == 20
    assert best(ds, "brier", target="truth") == {"lam": 10, "target": "truth", "brier": 0.05}
    with pytest.raises(ValueError, match="`target` must be one of"):
        best(ds, "brier", target="masks")


def test_best_errors(hand):
    with pytest.raises(ValueError, match="`metric` must be one of"):
        best(hand, "dice")
    with pytest.raises(TypeError, match="`ds` must be an xarray.Dataset"):
        best(hand.brier, "brier")
    with pytest.raises(TypeError, match="`maximize`"):
        best(hand, "brier", maximize="yes")
    nan = hand.assign(brier=hand.brier * np.nan)
    with pytest.raises(ValueError, match="no finite value"):
        best(nan, "brier")


def test_best_setting_reproduces_its_value(ann, targets):
    ds = sweep(
        ann,
        agreement=targets[0],
        lam=[24, 36],
        beta_m=[0.3, 0.7],
        bandwidth=[0.25, 0.4],
        progress=False,
        ripple_warn=None,
    )
    b = best(ds, "brier")
    assert b["brier"] == pytest.approx(float(ds.brier.min()), rel=0)
    kw = setting_kwargs(b)
    assert kw == {
        "lam": b["lam"],
        "betas": (1.0, b["beta_m"], 0.1),
        "bandwidth": b["bandwidth"],
        "region": "convex",
    }
    assert _direct(ann, targets[0], "brier", **kw) == pytest.approx(b["brier"], rel=1e-12)


def test_setting_kwargs_alpha_and_errors():
    assert setting_kwargs({"region": "alpha", "alpha": 5, "lam": 40}) == {
        "lam": 40,
        "region": "alpha",
        "alpha": 5.0,
    }
    assert setting_kwargs({"region": "convex", "alpha": 5}) == {"region": "convex"}
    with pytest.raises(TypeError, match="`setting` must be a dict"):
        setting_kwargs([("lam", 3)])


# ---------------------------------------------------------------------------------------------
# plot_sweep()
# ---------------------------------------------------------------------------------------------
def _grid_ds(shape_by_dim, seed=0):
    rng = np.random.default_rng(seed)
    dims = list(shape_by_dim)
    coords = {d: np.arange(n) * 0.1 + 0.1 for d, n in shape_by_dim.items()}
    vals = rng.random([shape_by_dim[d] for d in dims])
    return xr.Dataset({"brier": (dims, vals, {"better": "lower"})}, coords=coords)


def _star(ax):
    stars = [ln for ln in ax.lines if ln.get_marker() == "*"]
    return stars


def test_plot_line_marks_best():
    ds = _grid_ds({"bandwidth": 5})
    fig = plot_sweep(ds, "brier")
    ax = fig.axes[0]
    (star,) = _star(ax)
    b = best(ds, "brier")
    assert star.get_xdata()[0] == pytest.approx(b["bandwidth"])
    assert star.get_ydata()[0] == pytest.approx(b["brier"])
    plt.close(fig)


def test_plot_heatmap_marks_best():
    ds = _grid_ds({"lam": 3, "bandwidth": 4}, seed=1)
    fig = plot_sweep(ds, "brier")
    ax = fig.axes[0]
    (star,) = _star(ax)
    b = best(ds, "brier")
    bi, bj = list(ds.bandwidth.values).index(b["bandwidth"]), list(ds.lam.values).index(b["lam"])
    # the star sits in the best cell's corner, off the cell's value at its centre ...
    sx, sy = star.get_xdata()[0], star.get_ydata()[0]
    assert abs(sx - bi) < 0.5 and abs(sy - bj) < 0.5 and np.hypot(sx - bi, sy - bj) > 0.3
    # ... and a frame outlines the cell; the value is still written, readably large
    (frame,) = [p for p in ax.patches if p.get_edgecolor()[:3] == matplotlib.colors.to_rgb("C3")]
    assert frame.get_xy() == (bi - 0.5, bj - 0.5) and frame.get_width() == frame.get_height() == 1
    texts = [t for t in ax.texts if t.get_position() == (bi, bj)]
    assert len(texts) == 1 and texts[0].get_fontsize() >= 8
    img = ax.images[0].get_array()
    assert img.shape == (3, 4)
    assert np.allclose(img, ds.brier.values)
    plt.close(fig)


@pytest.mark.parametrize("n_dims, n_axes", [(3, 3), (4, 6)])
def test_plot_facets_one_star(n_dims, n_axes):
    shape = dict(list({"lam": 2, "beta_m": 3, "beta_h": 2, "bandwidth": 3}.items())[-n_dims:])
    ds = _grid_ds(shape, seed=n_dims)
    fig = plot_sweep(ds, "brier")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == n_axes
    assert sum(len(_star(ax)) for ax in panels) == 1
    plt.close(fig)


def test_plot_string_dim_and_errors():
    ds = xr.Dataset({"brier": ("region", [0.3, 0.2])}, coords={"region": ["convex", "alpha"]})
    fig = plot_sweep(ds, "brier")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["convex", "alpha"]
    plt.close(fig)
    big = _grid_ds({"a": 2, "b": 2, "c": 2, "d": 2, "e": 2})
    with pytest.raises(ValueError, match="at most 4 swept dimensions"):
        plot_sweep(big, "brier")
    with pytest.raises(ValueError, match="`dims` must name the swept dimensions"):
        plot_sweep(_grid_ds({"a": 2, "b": 2}), "brier", dims=["a", "c"])


def test_plot_log_scale_and_ripple_hatching(ann, targets):
    ds = sweep(
        ann,
        agreement=targets[0],
        lam=[10, 40],
        bandwidth=[0.05, 0.4],
        progress=False,
        ripple_warn=None,
    )
    fig = plot_sweep(ds, "brier", log=True)
    ax = fig.axes[0]
    from matplotlib.colors import LogNorm

    assert isinstance(ax.images[0].norm, LogNorm)
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == int((ds.ripple > 0.01).sum()) >= 1
    plt.close(fig)
    fig = plot_sweep(ds, "brier", ripple=None, log=False)
    assert not [p for p in fig.axes[0].patches if p.get_hatch()]
    plt.close(fig)
    line = plot_sweep(ds.sel(lam=10), "brier")
    rings = [ln for ln in line.axes[0].lines if ln.get_label().startswith("ripple >")]
    assert len(rings) == 1 and len(rings[0].get_xdata()) == int((ds.ripple.sel(lam=10) > 0.01).sum())
    plt.close(line)
