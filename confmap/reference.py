"""Soft reference maps from several raters' masks: STAPLE beside the raters' mean agreement.

:func:`confmap.metrics.agreement` (the paper's Agreement map) is the fraction of raters who marked
a pixel. :func:`staple` is a second soft reference: the posterior probability of tumour under
STAPLE (Warfield et al. 2004), which weights each rater by an estimated sensitivity and
specificity. Both are arrays of the masks' shape with values in [0, 1], so either can be the
``agreement`` (target) argument of :func:`confmap.metrics.evaluate`::

    from confmap.reference import staple
    result = metrics.evaluate(ds.confidence, staple(ds.masks, valid=ds.sector), valid=ds.sector)

SimpleITK (``pip install 'confmap[io]'``) is imported only inside :func:`staple`.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_array, check_int, check_number, describe, import_optional

__all__ = ["staple"]


def _one_staple(sitk, masks, valid, max_iterations, confidence_weight):
    """STAPLE of (R, H, W) boolean masks on the pixels where ``valid``; (H, W) map and stats."""
    r = masks.shape[0]
    out = np.zeros(masks.shape[1:])
    n_valid = int(valid.sum())
    nan = np.full(r, np.nan)
    if n_valid == 0:
        return out, nan, nan, np.nan, 0
    # STAPLE has no spatial term: every pixel is independent given (sensitivity, specificity, prior),
    # so the valid pixels packed into a 1 x n image give exactly STAPLE on the field of view alone.
    packed = masks[:, valid]  # (R, n)
    prior = float(packed.mean())
    if prior in (0.0, 1.0):  # every rater says the same everywhere: ITK would divide 0 by 0
        out[valid] = prior
        return out, nan, nan, prior, 0
    f = sitk.STAPLEImageFilter()
    f.SetForegroundValue(1.0)
    f.SetConfidenceWeight(float(confidence_weight))
    if max_iterations is not None:
        f.SetMaximumIterations(int(max_iterations))
    images = [sitk.GetImageFromArray(row.astype(np.uint8)[None, :]) for row in packed]
    w = sitk.GetArrayFromImage(f.Execute(images))[0]
    out[valid] = np.clip(w, 0.0, 1.0)
    return out, np.asarray(f.GetSensitivity()), np.asarray(f.GetSpecificity()), prior, int(f.GetElapsedIterations())


def staple(
    masks,
    *,
    valid=None,
    max_iterations: int | None = None,
    confidence_weight: float = 1.0,
    full: bool = False,
):
    """STAPLE soft truth of several raters' binary masks, on a field of view.

    Parameters
    ----------
    masks : array_like or xarray.DataArray, (R, H, W) or (N, R, H, W)
        One binary mask per rater (non-zero = tumour), for one image or N images (e.g.
        ``ds.masks`` of :func:`confmap.phantom.make_dataset` or :func:`confmap.io.load_folder`).
    valid : bool array, (H, W) or (N, H, W), optional
        The field of view (e.g. ``ds.sector``): STAPLE sees only these pixels; the map is 0
        outside. Default all pixels.
    max_iterations : int, optional
        EM iterations at most (default ITK's: until converged).
    confidence_weight : float, default 1
        ITK's weight of the prior (1 = the plain foreground fraction).
    full : bool, default False
        Return a Dataset with the per-rater performance too.

    Returns
    -------
    xarray.DataArray, (H, W) or (N, H, W), float64 in [0, 1], named ``"staple"``
        The posterior probability of tumour at each pixel. With ``full``, an ``xarray.Dataset``
        with ``staple``, ``sensitivity`` and ``specificity`` ([image,] rater; NaN when undefined),
        ``prior`` and ``iterations`` ([image]).

    Raises
    ------
    ValueError
        If the shapes disagree, ``valid`` is not boolean-like, or a mask is not binary.

    Notes
    -----
    ``sitk.STAPLE`` estimates its prior as the foreground fraction of all the pixels it is given,
    so on a whole ultrasound frame the black corners outside the sector (where every rater says
    "background") lower the prior and raise every rater's specificity; the result then depends on
    how much of the frame is outside the scan. Here only the ``valid`` pixels go to
    ``sitk.STAPLEImageFilter`` (packed into a 1 x n image: STAPLE has no spatial term, so this is
    STAPLE on the field of view exactly), the same pixels on which
    :func:`confmap.metrics.evaluate` scores the maps with ``valid=``. Where all raters agree on
    every valid pixel (all background or all tumour) ITK's EM divides 0 by 0; the map is then
    that common value and the rater performance NaN.
    """
    sitk = import_optional("SimpleITK", "STAPLE", "SimpleITK")
    import xarray as xr

    arr = check_array("masks", masks, ndim=(3, 4), dtype=None)
    if arr.dtype != bool and not np.isin(arr, (0, 1)).all():
        raise ValueError(f"`masks` must be binary (0/1 or bool), got values {np.unique(arr)[:6].tolist()}...")
    single = arr.ndim == 3
    m = (arr[None] if single else arr).astype(bool)
    n, r, h, w = m.shape
    if valid is None:
        v = np.ones((n, h, w), bool)
    else:
        v = check_array("valid", valid, ndim=(2, 3), dtype=None)
        if v.dtype != bool and not np.isin(v, (0, 1)).all():
            raise ValueError(f"`valid` must be a boolean mask, got {describe(v)}")
        if v.shape not in ((h, w), (n, h, w)):
            raise ValueError(
                f"`valid` must have shape {(h, w)} or {(n, h, w)} to match `masks` {arr.shape}, got {v.shape}"
            )
        v = np.broadcast_to(v.astype(bool), (n, h, w))
    if max_iterations is not None:
        max_iterations = check_int("max_iterations", max_iterations, minimum=1)
    confidence_weight = check_number("confidence_weight", confidence_weight, minimum=0.0)
    maps = np.zeros((n, h, w))
    sens, spec = np.zeros((n, r)), np.zeros((n, r))
    prior, iters = np.zeros(n), np.zeros(n, int)
    for i in range(n):
        maps[i], sens[i], spec[i], prior[i], iters[i] = _one_staple(sitk, m[i], v[i], max_iterations, confidence_weight)
    dims = ("y", "x") if single else ("image", "y", "x")
    coords = {"y": np.arange(h), "x": np.arange(w)}
    src_coords = getattr(masks, "coords", {})
    for name in ("image", "y_mm", "x_mm", "image_id", "kind"):
        if name in src_coords and set(src_coords[name].dims) <= set(dims):
            coords[name] = src_coords[name]
    attrs = {"reference": "STAPLE (SimpleITK STAPLEImageFilter) on the valid pixels"}
    da = xr.DataArray(maps[0] if single else maps, dims=dims, coords=coords, name="staple", attrs=attrs)
    if not full:
        return da
    lead = () if single else ("image",)
    pick = (lambda a: a[0]) if single else (lambda a: a)
    return xr.Dataset(
        {
            "staple": da,
            "sensitivity": ((*lead, "rater"), pick(sens)),
            "specificity": ((*lead, "rater"), pick(spec)),
            "prior": (lead, pick(prior)),
            "iterations": (lead, pick(iters)),
        },
        attrs=attrs,
    )
