"""Summaries of a cross-validation: Table 1, fold win counts, per-image paired statistics.

:func:`table1` is the paper's table (mean over folds); :func:`soft_wins` counts the folds in which
the soft-trained network scores better.

With five folds of a few images, "soft better in k of 5 folds" is a coarse count: 5 of 5 happens
with probability 1/32 when soft and hard are equally good, and 4 of 5 with 5/32. The held-out
images give more resolution: every image is scored by the soft- and by the hard-trained network of
its own fold, so the per-image differences ``d_i = score_soft_i - score_hard_i`` are paired. This
module reports their mean with a seeded bootstrap percentile interval
(:func:`scipy.stats.bootstrap`, ``paired=True``) and a paired Wilcoxon signed-rank test
(:func:`scipy.stats.wilcoxon`), beside the fold win count.

The images of one fold share a network, so the differences are not fully independent: read the
interval as the spread over these held-out images, not over repeated experiments.
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from .._validation import check_choice, check_int, check_number
from ._config import METRICS, REFERENCES

__all__ = ["paired_differences", "paired_test", "soft_wins", "table1"]


def paired_test(soft, hard, *, level: float = 0.95, n_resamples: int = 9999, seed: int = 0) -> dict:
    """Mean paired difference ``soft - hard`` with a bootstrap interval and a Wilcoxon test.

    Parameters
    ----------
    soft, hard : array_like, shape (n,)
        Paired scores (lower is better), e.g. per held-out image. ``n >= 2``; NaN not allowed.
    level : float in (0, 1), optional
        Confidence level of the interval. Default 0.95.
    n_resamples : int, optional
        Bootstrap resamples (>= 100). Default 9999.
    seed : int, optional
        Seed of the bootstrap's ``numpy.random.Generator``. Default 0.

    Returns
    -------
    dict
        ``n``; ``mean_diff`` (mean of ``soft - hard``; negative: soft better); ``ci_low``,
        ``ci_high`` (percentile bootstrap over pairs); ``n_soft_better`` (pairs with
        ``soft < hard``); ``wilcoxon_stat``, ``p_value`` (two-sided paired Wilcoxon signed-rank
        test, zero differences dropped; ``p_value = 1`` and ``wilcoxon_stat = NaN`` when every
        difference is 0).

    Raises
    ------
    ValueError
        If the shapes differ, ``n < 2``, or a value is not finite.

    Examples
    --------
    >>> r = paired_test([0.1, 0.2, 0.15, 0.12, 0.3, 0.2], [0.2, 0.3, 0.2, 0.2, 0.4, 0.25])
    >>> round(r["mean_diff"], 4), r["n_soft_better"], round(r["p_value"], 4)
    (-0.08, 6, 0.0312)
    """
    from scipy import stats

    s = np.asarray(soft, dtype=np.float64).ravel()
    h = np.asarray(hard, dtype=np.float64).ravel()
    if s.shape != h.shape:
        raise ValueError(f"`soft` and `hard` must have the same length, got {s.size} and {h.size}")
    if s.size < 2:
        raise ValueError(f"`soft` and `hard` need at least 2 pairs, got {s.size}")
    if not (np.isfinite(s).all() and np.isfinite(h).all()):
        raise ValueError("`soft` and `hard` must hold finite values (no NaN or inf)")
    level = check_number("level", level, minimum=0.0, maximum=1.0, strict_min=True, strict_max=True)
    n_resamples = check_int("n_resamples", n_resamples, minimum=100)
    seed = check_int("seed", seed, minimum=0)
    d = s - h
    if np.ptp(d) == 0.0:  # a degenerate bootstrap distribution: the interval is the value itself
        lo = hi = float(d[0])
    else:
        boot = stats.bootstrap(
            (s, h),
            lambda a, b, axis=-1: np.mean(a - b, axis=axis),
            paired=True,
            vectorized=True,
            n_resamples=n_resamples,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        lo, hi = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
    if np.all(d == 0.0):
        stat, p = np.nan, 1.0
    else:
        with warnings.catch_warnings():
            # scipy notes when zeros or ties force the normal approximation; the p-value is still
            # the documented one
            warnings.simplefilter("ignore", UserWarning)
            w = stats.wilcoxon(s, h, zero_method="wilcox", alternative="two-sided")
        stat, p = float(w.statistic), float(w.pvalue)
    return {
        "n": int(d.size),
        "mean_diff": float(d.mean()),
        "ci_low": lo,
        "ci_high": hi,
        "n_soft_better": int(np.count_nonzero(d < 0)),
        "wilcoxon_stat": stat,
        "p_value": p,
    }


def paired_differences(
    results: xr.Dataset,
    *,
    reference: str = "agreement",
    metric: str = "brier",
    level: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
):
    """Per-image paired differences (soft - hard) of a cross-validation, one row per loss.

    Parameters
    ----------
    results : xarray.Dataset
        Output of :func:`confmap.learn.cross_validate` (variables ``score`` and ``fold_score``,
        both labels).
    reference : {"agreement", "truth"}, optional
        Scores against the raters' agreement (the paper's) or the phantom's truth.
    metric : {"brier", "soft_dice"}, optional
        Which score (lower is better for both).
    level, n_resamples, seed
        As in :func:`paired_test`; the same seed is used for every loss.

    Returns
    -------
    pandas.DataFrame
        Index: loss display names. Columns: ``n_images``, ``mean_diff`` (mean over held-out
        images of soft - hard; negative: soft better), ``ci_low``, ``ci_high`` (bootstrap
        interval), ``images_soft_better``, ``wilcoxon_stat``, ``p_value`` (paired Wilcoxon over
        images), ``folds_soft_better`` and ``n_folds`` (the fold win count of
        :func:`~confmap.learn.soft_wins`). ``attrs`` holds the arguments.

    Raises
    ------
    ValueError
        If the results lack a label, or ``reference``/``metric`` is unknown.

    Examples
    --------
    >>> paired_differences(res, reference="truth", metric="brier")  # doctest: +SKIP
    """
    import pandas as pd

    reference = check_choice("reference", reference, REFERENCES)
    metric = check_choice("metric", metric, METRICS)
    _check_both_labels(results)
    sc = results["score"].sel(reference=reference, metric=metric)
    fs = results["fold_score"].sel(reference=reference, metric=metric)
    rows = []
    for lo in results["loss"].values:
        r = paired_test(
            sc.sel(loss=lo, label="soft").values,
            sc.sel(loss=lo, label="hard").values,
            level=level,
            n_resamples=n_resamples,
            seed=seed,
        )
        fsoft, fhard = fs.sel(loss=lo, label="soft").values, fs.sel(loss=lo, label="hard").values
        row = {_IMAGE_COLUMNS.get(k, k): v for k, v in r.items()}
        rows.append({**row, "folds_soft_better": int(np.count_nonzero(fsoft < fhard)), "n_folds": int(fsoft.size)})
    out = pd.DataFrame(rows, index=pd.Index([str(v) for v in results["loss_name"].values], name="Loss Function"))
    out.attrs.update(reference=reference, metric=metric, level=level, n_resamples=n_resamples, seed=seed)
    return out


#: Columns of :func:`paired_differences` named differently from the keys of :func:`paired_test`.
_IMAGE_COLUMNS = {"n": "n_images", "n_soft_better": "images_soft_better"}


def _check_both_labels(results: xr.Dataset) -> None:
    labels = [str(v) for v in results["label"].values]
    if "soft" not in labels or "hard" not in labels:
        raise ValueError(f"`results` must hold both labels 'soft' and 'hard', got {labels}")


def table1(
    results: xr.Dataset,
    *,
    reference: str = "agreement",
    intervals: bool = False,
    level: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
):
    """The paper's Table 1 layout: mean over folds, rows = losses, columns = metric x label.

    Parameters
    ----------
    results : xarray.Dataset
        Output of :func:`cross_validate`.
    reference : {"agreement", "truth"}, optional
        Score against the raters' agreement (the paper's) or the phantom's truth.
    intervals : bool, optional
        Add, per metric, the mean per-image difference soft - hard with its bootstrap interval,
        the paired Wilcoxon p-value over held-out images and the fold win count
        (:func:`paired_differences`). Default False (the paper's columns).
    level, n_resamples, seed
        Of the bootstrap interval (only with ``intervals=True``).

    Returns
    -------
    pandas.DataFrame
        Index: loss display names; columns: MultiIndex ``(metric, label)`` with metrics
        "Brier" and "Soft Dice" and labels "Soft" and "Hard"; with ``intervals`` also
        "Soft − Hard", "CI low", "CI high", "p (Wilcoxon)" and "folds soft better".
    """
    import pandas as pd

    reference = check_choice("reference", reference, REFERENCES)
    mean = results["fold_score"].sel(reference=reference).mean("fold")
    cols, data = [], []
    for m, mname in zip(METRICS, ("Brier", "Soft Dice"), strict=True):
        for lab in results["label"].values:
            cols.append((mname, str(lab).capitalize()))
            data.append(mean.sel(metric=m, label=lab).values)
        if intervals:
            pdiff = paired_differences(
                results, reference=reference, metric=m, level=level, n_resamples=n_resamples, seed=seed
            )
            for src, name in (
                ("mean_diff", "Soft − Hard"),
                ("ci_low", "CI low"),
                ("ci_high", "CI high"),
                ("p_value", "p (Wilcoxon)"),
                ("folds_soft_better", "folds soft better"),
            ):
                cols.append((mname, name))
                data.append(pdiff[src].to_numpy())
    return pd.DataFrame(
        np.column_stack(data),
        index=pd.Index([str(v) for v in results["loss_name"].values], name="Loss Function"),
        columns=pd.MultiIndex.from_tuples(cols, names=["metric", "label"]),
    )


def soft_wins(results: xr.Dataset):
    """In how many folds the soft-trained network scores better (lower) than the hard one.

    Returns
    -------
    pandas.DataFrame
        Index: loss display names; columns: MultiIndex ``(reference, metric)``; values: the
        number of folds (out of ``results.sizes["fold"]``) where soft < hard.

    Raises
    ------
    ValueError
        If the results lack either label.
    """
    import pandas as pd

    _check_both_labels(results)
    fs = results["fold_score"]
    wins = (fs.sel(label="soft") < fs.sel(label="hard")).sum("fold")
    cols = [(ref, m) for ref in REFERENCES for m in METRICS]
    data = [wins.sel(reference=ref, metric=m).values.astype(int) for ref, m in cols]
    return pd.DataFrame(
        np.column_stack(data),
        index=pd.Index([str(v) for v in results["loss_name"].values], name="Loss Function"),
        columns=pd.MultiIndex.from_tuples(cols, names=["reference", "metric"]),
    )
