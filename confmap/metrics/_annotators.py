"""Agreement between several annotators' confidence maps (beyond the paper: it has one annotator)."""

from __future__ import annotations

import numpy as np

from ._common import as_values
from ._scores import brier, soft_dice


def map_agreement(maps, *, truth=None) -> dict:
    """Pairwise Brier and soft Dice between annotators' confidence maps, and their mean map.

    Parameters
    ----------
    maps : array_like, shape (A, H, W) or (N, A, H, W), values in [0, 1]
        The confidence maps of ``A >= 2`` annotators of one image, or of ``N`` images (e.g.
        ``ds.annotator_confidence`` of :func:`confmap.phantom.make_dataset` with
        ``n_annotators > 1``; an xarray's values are used as they are, so put ``annotator``
        second).
    truth : array_like, shape (H, W) or (N, H, W), optional
        A reference in [0, 1] (the phantom's truth, or the raters' agreement) to score each map
        and the mean map against.

    Returns
    -------
    dict
        ``pairwise_brier``, ``pairwise_soft_dice``: arrays ``(A, A)`` (or ``(N, A, A)``),
        symmetric, 0 on the diagonal: Brier (Eq. 8, whole image) and soft Dice (Eq. 9, reported
        as 1 - ratio) between annotators ``i`` and ``j``. ``mean_pairwise_brier``,
        ``mean_pairwise_soft_dice``: their means over the ``A (A - 1) / 2`` pairs (float, or
        ``(N,)``). ``mean_map``: the annotators' mean map ``(H, W)`` (or ``(N, H, W)``). With
        ``truth``: ``brier_vs_truth``, ``soft_dice_vs_truth`` of each annotator ``(A,)`` (or
        ``(N, A)``) and ``mean_map_brier_vs_truth``, ``mean_map_soft_dice_vs_truth`` (float or
        ``(N,)``). Lower is better (closer) for all.

    Raises
    ------
    ValueError
        If ``maps`` has fewer than 2 annotators, values outside [0, 1], or ``truth`` does not
        match.

    Notes
    -----
    A soft Dice of two all-zero maps is undefined (NaN with a warning), as in :func:`soft_dice`.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((3, 4, 4)); a[0, 1:3, 1:3] = 1; a[1, 1:3, 1:4] = 1; a[2, 1:3, 1:3] = 0.5
    >>> r = map_agreement(a)
    >>> float(r["pairwise_brier"][0, 2]), float(r["pairwise_brier"][1, 2]), r["mean_pairwise_brier"]
    (0.0625, 0.1875, 0.125)
    """
    m = as_values("maps", maps, ndim=(3, 4))
    if m.shape[-3] < 2:
        raise ValueError(f"`maps` must have shape (A, H, W) or (N, A, H, W) with A >= 2 annotators, got {m.shape}")
    single = m.ndim == 3
    m4 = m[None] if single else m
    n, a = m4.shape[:2]
    if truth is not None:
        t = as_values("truth", truth)
        t3 = t[None] if t.ndim == 2 else t
        if t3.shape != (n, *m4.shape[2:]):
            raise ValueError(
                f"`truth` must have shape {m4.shape[2:] if single else (n, *m4.shape[2:])} to match "
                f"`maps` {m.shape}, got {t.shape}"
            )

    def scores(x, y, shape):  # Brier and soft Dice of two stacks, per image
        return [np.asarray(f(x, y), float).reshape(shape) for f in (brier, soft_dice)]

    iu, ju = np.triu_indices(a, k=1)
    # every pair of every image as one stack: (N * P, H, W)
    pb, pd = scores(m4[:, iu].reshape(-1, *m4.shape[2:]), m4[:, ju].reshape(-1, *m4.shape[2:]), (n, len(iu)))
    out_b, out_d = np.zeros((n, a, a)), np.zeros((n, a, a))
    out_b[:, iu, ju] = out_b[:, ju, iu] = pb
    out_d[:, iu, ju] = out_d[:, ju, iu] = pd
    mean_map = m4.mean(axis=1)
    res = {
        "pairwise_brier": out_b,
        "pairwise_soft_dice": out_d,
        "mean_pairwise_brier": pb.mean(axis=1),
        "mean_pairwise_soft_dice": pd.mean(axis=1),
        "mean_map": mean_map,
    }
    if truth is not None:
        flat = m4.reshape(-1, *m4.shape[2:])
        res["brier_vs_truth"], res["soft_dice_vs_truth"] = scores(flat, np.repeat(t3, a, axis=0), (n, a))
        res["mean_map_brier_vs_truth"], res["mean_map_soft_dice_vs_truth"] = scores(mean_map, t3, (n,))
    if single:  # drop the image axis: arrays lose one dim, per-image numbers become floats
        res = {k: (float(v[0]) if v.ndim == 1 else v[0]) for k, v in res.items()}
    return res
