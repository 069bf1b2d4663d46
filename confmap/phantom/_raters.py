"""Simulated raters (binary masks) and the virtual confidence annotator of the protocol (Section 2.2)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage, special

from .._validation import check_int, check_number
from ..annotation import Annotation, image_sha256
from ._geometry import (
    RATER_BIAS_SD,
    RATER_JITTER_SD,
    RATER_WOBBLE_MM,
    RATER_WOBBLE_PER_MARGIN,
    REFERENCE_FACTOR,
    VIRTUAL_ANNOTATOR,
    angular_series,
    as_rng,
    largest_filled,
)


def draw_rater_biases(n_raters, reference, rng, *, sd=RATER_BIAS_SD):
    """Consistent per-rater logit biases: the reference 0, the others at normal quantiles of spread ``sd``."""
    others = n_raters - 1
    q = special.ndtri((np.arange(others) + 0.5) / others) if others > 1 else np.zeros(others)
    q = rng.permutation(q) * sd
    b = np.zeros(n_raters)
    b[[k for k in range(n_raters) if k != reference]] = q
    return b


def simulate_raters(
    truth: dict,
    seed,
    *,
    n_raters: int = 4,
    reference: int = 0,
    biases=None,
    spacing_mm: float = 1.0,
    boundary_factor: float = 1.0,
) -> np.ndarray:
    """Binary masks of ``n_raters`` simulated raters for one tumour.

    Parameters
    ----------
    truth : dict
        From :func:`tumour_truth` (uses ``s``, ``scale_mm``, ``margin_mm``, ``centre``, ``sector``).
    seed : int, SeedSequence or Generator
        Per-image randomness (jitter, boundary perturbation).
    n_raters : int, default 4
        Number of raters (>= 1).
    reference : int, default 0
        Index of the reference rater (bias 0, half the jitter and perturbation).
    biases : array_like, shape (n_raters,), optional
        Consistent per-rater logit biases (the same for every image of a dataset). Default: the
        reference 0, the others at normal quantiles of spread 1.2.
    spacing_mm : float, default 1
        Pixel spacing, to express the boundary perturbation in mm.
    boundary_factor : float, default 1
        Multiplies the RMS of the smooth boundary perturbation (0: raters follow an iso-line
        of ``p`` exactly; 2: twice the default wobble).

    Returns
    -------
    numpy.ndarray, shape (n_raters, H, W), uint8
        One clean filled mask (largest component, holes filled, inside the sector) per rater.

    Notes
    -----
    Rater ``k`` marks ``p > t_k`` with ``logit(t_k) = b_k + e``, ``e ~ N(0, 0.5^2)``, after moving
    the boundary outwards by a smooth angular perturbation of RMS ``0.45 mm + 0.55 margin_mm``:
    ``mask_k = s < -scale logit(t_k) + delta_k(theta)``.
    """
    rng = as_rng(seed)
    n_raters = check_int("n_raters", n_raters, minimum=1)
    reference = check_int("reference", reference, minimum=0, maximum=n_raters - 1)
    if biases is None:
        biases = draw_rater_biases(n_raters, reference, rng)
    biases = np.asarray(biases, float)
    if biases.shape != (n_raters,):
        raise ValueError(f"`biases` must have shape ({n_raters},), got {biases.shape}")
    s, scale, sector = truth["s"], truth["scale_mm"], truth["sector"]
    h, w = s.shape
    cx, cy = truth["centre"]
    theta = np.arctan2(np.arange(h)[:, None] - cy, np.arange(w)[None, :] - cx)
    boundary_factor = check_number("boundary_factor", boundary_factor, minimum=0.0)
    wobble = boundary_factor * (RATER_WOBBLE_MM + RATER_WOBBLE_PER_MARGIN * truth["margin_mm"])
    masks = np.zeros((n_raters, h, w), np.uint8)
    for k in range(n_raters):
        f = REFERENCE_FACTOR if k == reference else 1.0
        logit_t = biases[k] + f * RATER_JITTER_SD * rng.standard_normal()
        delta = angular_series(rng, theta, f * wobble, orders=(1, 6), decay=1.0)
        m = (s < -scale * logit_t + delta) & sector
        masks[k] = largest_filled(m) if m.any() else m
    return masks


def _ray_radius(p, cx, cy, angles, level, r_max, step=0.25):
    """For each ray from (cx, cy), the outermost radius (px) where ``p >= level`` (NaN if none)."""
    radii = np.arange(0.0, r_max, step)
    xs = cx + np.cos(angles)[:, None] * radii[None, :]
    ys = cy + np.sin(angles)[:, None] * radii[None, :]
    vals = ndimage.map_coordinates(p, [ys, xs], order=1, mode="constant", cval=0.0)
    above = vals >= level
    idx = np.where(above.any(1), above.shape[1] - 1 - np.argmax(above[:, ::-1], axis=1), -1)
    i = np.clip(idx, 0, len(radii) - 2)
    rows = np.arange(len(angles))
    v0, v1 = vals[rows, i], vals[rows, i + 1]
    # linear interpolation of the crossing between the last sample above and the next one
    frac = np.where(v0 > v1, np.clip((v0 - level) / np.where(v0 > v1, v0 - v1, 1.0), 0, 1), 0.0)
    return np.where(idx >= 0, radii[i] + frac * step, np.nan)


def virtual_annotator(
    truth: dict,
    seed,
    *,
    spacing_mm: float = 1.0,
    loss_db=None,
    n_high: int = 10,
    n_medium: int = 12,
    n_low: int = 7,
    high_level: float = 0.9,
    medium_level: float = 0.25,
    image=None,
    image_id: str | None = None,
) -> Annotation:
    """Tiered confidence points that follow the paper's Section 2.2 protocol.

    Parameters
    ----------
    truth : dict
        From :func:`tumour_truth` (uses ``p``, ``centre``, ``margin_mm``, ``sector``).
    seed : int, SeedSequence or Generator
        Randomness (ray angles, placement jitter).
    spacing_mm : float, default 1
        Pixel spacing (mm) for the distances below.
    loss_db : array_like, shape (H, W), optional
        Uncompensated attenuation loss (from :func:`simulate_bmode`): a high point in an acoustic
        shadow (loss > 10 dB) is obscured and becomes a medium point, as the protocol asks.
    n_high, n_medium, n_low : int
        Number of rays for each tier (points outside the field of view are dropped).
    high_level : float, default 0.9
        The clear core: high points sit half a pixel inside the outermost ``p >= high_level``.
    medium_level : float, default 0.25
        The outer edge of the fuzzy margin: medium points at the outermost ``p >= medium_level``,
        and at least 0.6 mm outside the ``p = 0.5`` boundary (for a sharp margin, the band around
        it with continued tumour appearance).
    image : array_like, optional
        The image annotated, to store its SHA-256 in the annotation.
    image_id : str, optional
        Stored in the annotation.

    Returns
    -------
    Annotation
        With ``spacing=(spacing_mm, spacing_mm)`` and ``annotator="virtual (protocol 2.2)"``.

    Notes
    -----
    Low points are placed sparsely 1.5-3 mm plus one margin width beyond the medium ring, in the
    perilesional tissue where residual tumour cells remain possible. The annotator reads the
    truth ``p`` the way an expert reads a good image: it does not segment the B-mode image.
    """
    rng = as_rng(seed)
    p = truth["p"]
    h, w = p.shape
    sector = truth["sector"]
    cx, cy = truth["centre"]
    sp = check_number("spacing_mm", spacing_mm, minimum=0.0, strict_min=True)
    r_max = float(np.hypot(h, w))

    def angles(n):
        a = (np.arange(n) + rng.uniform(0, 1)) * (2 * np.pi / n)
        return a + rng.uniform(-0.3, 0.3, n) * (np.pi / n)

    def on_rays(a, r, keep=True):  # the points at radii r on rays a that lie in the field of view
        x, y = cx + np.cos(a) * r, cy + np.sin(a) * r
        ok = np.isfinite(x) & np.isfinite(y) & (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
        xi = np.clip(np.rint(np.nan_to_num(x)).astype(int), 0, w - 1)
        yi = np.clip(np.rint(np.nan_to_num(y)).astype(int), 0, h - 1)
        ok &= sector[yi, xi] & keep
        return x[ok], y[ok]

    def margin_edge(a):  # the outer edge of the fuzzy margin, at least 0.6 mm outside p = 0.5
        return np.fmax(_ray_radius(p, cx, cy, a, medium_level, r_max), _ray_radius(p, cx, cy, a, 0.5, r_max) + 0.6 / sp)

    # High: the clear core boundary.
    a_h = angles(check_int("n_high", n_high, minimum=0))
    r_h = _ray_radius(p, cx, cy, a_h, high_level, r_max) - 0.5
    hx, hy = on_rays(a_h, r_h, r_h >= 0)
    # Medium: the outer edge of the fuzzy margin.
    a_m = angles(check_int("n_medium", n_medium, minimum=0))
    mx, my = on_rays(a_m, margin_edge(a_m) + rng.uniform(0.0, 0.3, len(a_m)) / sp)
    # Low: sparse points outside the fuzzy margin.
    a_l = angles(check_int("n_low", n_low, minimum=0))
    lx, ly = on_rays(a_l, margin_edge(a_l) + (rng.uniform(1.5, 3.0, len(a_l)) + truth["margin_mm"]) / sp)
    # Obscured high points (acoustic shadow) are only medium confidence.
    if loss_db is not None and len(hx):
        shadow = np.asarray(loss_db)[np.rint(hy).astype(int), np.rint(hx).astype(int)] > 10.0
        mx, my = np.concatenate([mx, hx[shadow]]), np.concatenate([my, hy[shadow]])
        hx, hy = hx[~shadow], hy[~shadow]
    return Annotation(
        (h, w),
        high=np.column_stack([hx, hy]),
        medium=np.column_stack([mx, my]),
        low=np.column_stack([lx, ly]),
        spacing=(sp, sp),
        image_id=image_id,
        image_sha256=None if image is None else image_sha256(image),
        annotator=VIRTUAL_ANNOTATOR,
        notes=f"confmap.phantom virtual annotator; kind={truth['kind']}, margin={truth['margin_mm']:.2f} mm",
    )


def jitter_annotation(ann: Annotation, seed, *, sd_mm: float, spacing_mm: float = 1.0) -> Annotation:
    """The same annotation with every point moved by its own isotropic Gaussian placement error.

    Parameters
    ----------
    ann : Annotation
        Tiered points ``(x, y)`` in pixels.
    seed : int, SeedSequence or Generator
        Randomness of the displacements.
    sd_mm : float
        Standard deviation of each coordinate's displacement, in mm (>= 0; 0 returns an equal
        annotation).
    spacing_mm : float, default 1
        Pixel spacing (mm).

    Returns
    -------
    Annotation
        Points moved by ``N(0, (sd_mm / spacing_mm)^2)`` pixels per axis, then clipped to the image
        (``-0.5 <= x <= W - 0.5``, ``-0.5 <= y <= H - 0.5``); metadata kept.
    """
    rng = as_rng(seed)
    sd = check_number("sd_mm", sd_mm, minimum=0.0)
    sd /= check_number("spacing_mm", spacing_mm, minimum=0.0, strict_min=True)
    h, w = ann.shape
    moved = {}
    for tier in ("high", "medium", "low"):
        pts = np.asarray(ann.points(tier), float).reshape(-1, 2)
        moved[tier] = np.clip(pts + rng.standard_normal(pts.shape) * sd, -0.5, [w - 0.5, h - 0.5])
    return ann.replace(**moved)
