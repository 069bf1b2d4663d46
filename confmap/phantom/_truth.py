"""Ground truth: the infiltration field p around an irregular tumour core."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from .._validation import check_choice, check_number, check_type
from ._geometry import KINDS, LOGIT_WIDTH, Geometry, angular_series, as_rng, smooth_field


def tumour_truth(
    geometry: Geometry,
    seed,
    *,
    kind: str = "well_defined",
    margin_mm: float | None = None,
    necrosis: bool | None = None,
    cyst: bool | None = None,
    calcification: bool | None = None,
) -> dict:
    """The ground-truth infiltration field ``p`` and the tissue map of one tumour.

    Parameters
    ----------
    geometry : Geometry
        Probe and pixel grid.
    seed : int, numpy.random.SeedSequence or numpy.random.Generator
        Randomness (the same seed gives the same tumour).
    kind : {"well_defined", "diffuse"}, default "well_defined"
        Margin type; sets the default margin width range (see :data:`KINDS`) and, for
        ``"diffuse"``, adds finger-like extensions.
    margin_mm : float, optional
        10-90 % width of ``p`` across the margin, mm. Default: uniform in the kind's range.
    necrosis, cyst, calcification : bool, optional
        Add a necrotic centre (dark, heterogeneous), a cystic centre (anechoic, low attenuation;
        excludes necrosis) or 1-3 calcifications (bright, strongly attenuating). Default: each
        at random (probability 0.3, 0.15, 0.3).

    Returns
    -------
    dict
        ``p`` (H, W) float in [0, 1] (0 outside the sector); ``s`` (H, W) signed distance to the
        p = 0.5 boundary in mm (negative inside); ``scale_mm`` (logistic scale of ``p``);
        ``centre`` ``(x, y)`` in pixels; ``radius_mm``; ``margin_mm``; ``kind``; the boolean maps
        ``necrosis_map``, ``cyst_map``, ``calc_map`` and ``csf_map``/``pia_map`` (sulci); and the
        feature flags.

    Notes
    -----
    ``p = 1 / (1 + exp(s / scale))`` with ``scale = margin_mm / (2 ln 9)``, where ``s`` is the
    radial distance to a star-shaped boundary ``R(theta) = R0 (1 + sum_m a_m cos(m theta +
    phi_m))`` minus, for diffuse tumours, finger extensions ``A max(F, 0) exp(-s^2 / 2L^2)`` from
    a smooth random field ``F``.
    """
    check_type("geometry", geometry, Geometry, "a confmap.phantom.Geometry")
    check_choice("kind", kind, tuple(KINDS))
    rng = as_rng(seed)
    h, w = geometry.size
    sp = geometry.spacing_mm
    lo, hi = KINDS[kind]
    margin = rng.uniform(lo, hi) if margin_mm is None else check_number("margin_mm", margin_mm, minimum=0.01)
    necrosis = bool(rng.random() < 0.3) if necrosis is None else bool(necrosis)
    cyst = bool(rng.random() < 0.15) if cyst is None else bool(cyst)
    calcification = bool(rng.random() < 0.3) if calcification is None else bool(calcification)
    if cyst:
        necrosis = False

    depth_mm = geometry.depth_mm
    r0_mm = rng.uniform(0.13, 0.2) * depth_mm  # 6.5-10 mm at 50 mm depth
    cdepth = rng.uniform(0.35, 0.6) * depth_mm
    lat_lo, lat_hi = geometry.lateral_range
    clat = rng.uniform(0.3 * lat_lo, 0.3 * lat_hi)
    cx_mm, cy_mm = geometry.from_beam(cdepth, clat)
    x = geometry.x_mm[None, :] - cx_mm
    y = geometry.y_mm[:, None] - cy_mm
    rho = np.hypot(x, y)
    theta = np.arctan2(y, x)
    bound = r0_mm * (1.0 + angular_series(rng, theta, 0.12, orders=(2, 7), decay=0.8))
    s = rho - bound
    if kind == "diffuse":
        fingers = np.maximum(smooth_field(rng, (h, w), 1.2 / sp), 0.0)
        s = s - rng.uniform(2.0, 3.5) * fingers * np.exp(-0.5 * (s / 3.0) ** 2)
    scale = margin / LOGIT_WIDTH
    sector = geometry.sector()
    p = special.expit(-s / scale) * sector

    core = s < -min(1.0, 0.3 * r0_mm)
    necrosis_map, cyst_map, calc_map, csf_map, pia_map = (np.zeros((h, w), bool) for _ in range(5))
    if necrosis or cyst:
        frac = rng.uniform(0.3, 0.55)
        inner = rho - frac * bound * (1 + angular_series(rng, theta, 0.08, orders=(2, 5)))
        (cyst_map if cyst else necrosis_map)[:] = (inner < 0) & core
    if calcification:
        for _ in range(int(rng.integers(1, 4))):
            ang = rng.uniform(0, 2 * np.pi)
            rad = rng.uniform(0.2, 0.75) * r0_mm
            size = rng.uniform(0.6, 1.3)
            px, py = cx_mm + rad * math.cos(ang), cy_mm + rad * math.sin(ang)
            calc_map |= np.hypot(geometry.x_mm[None, :] - px, geometry.y_mm[:, None] - py) < size
        calc_map &= core & ~cyst_map

    # Sulci: thin CSF lines flanked by bright pia, bending around the tumour (not through it).
    for _ in range(int(rng.integers(1, 4))):
        ang = rng.uniform(-0.5, 0.5) + (np.pi / 2 if rng.random() < 0.5 else 0.0)
        off = rng.uniform(-0.45, 0.45) * depth_mm
        gx = geometry.x_mm[None, :] * math.cos(ang) + geometry.y_mm[:, None] * math.sin(ang)
        gy = -geometry.x_mm[None, :] * math.sin(ang) + geometry.y_mm[:, None] * math.cos(ang)
        wav = rng.uniform(1.0, 3.0) * np.sin(gx / rng.uniform(4.0, 9.0) + rng.uniform(0, 2 * np.pi))
        d = np.abs(gy - off - depth_mm / 2 * math.cos(ang) - wav)
        away = s > 1.5 * margin + 1.0
        csf_map |= (d < 0.35) & away
        pia_map |= (d >= 0.35) & (d < 0.8) & away
    return {
        "p": p,
        "s": s,
        "scale_mm": scale,
        "centre": ((cx_mm - geometry.x_mm[0]) / sp, (cy_mm - geometry.y_mm[0]) / sp),
        "radius_mm": r0_mm,
        "margin_mm": float(margin),
        "kind": kind,
        "necrosis": necrosis,
        "cyst": cyst,
        "calcification": calcification,
        "necrosis_map": necrosis_map,
        "cyst_map": cyst_map,
        "calc_map": calc_map,
        "csf_map": csf_map,
        "pia_map": pia_map,
        "sector": sector,
    }
