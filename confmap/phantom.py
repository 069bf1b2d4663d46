"""Simulated intraoperative ultrasound of brain tumours, simulated raters and a virtual annotator.

The paper's clinical images are private, so every notebook, test and benchmark runs on data made
here (numpy/scipy only, about 0.1 s per 256x256 image):

1. **Geometry** (:class:`Geometry`): a curvilinear sector (default 70 degrees, 50 mm deep, 12 mm
   probe radius) or a linear probe, on square pixels of known spacing in mm.
2. **Ground truth** (:func:`tumour_truth`): an infiltration field ``p`` in [0, 1] around an
   irregular star-shaped core. The 10-90 % width of its margin decides the kind: ``well_defined``
   (~0.3 mm) or ``diffuse`` (1.5-3 mm, with finger-like extensions grown from a smooth random
   field). Necrotic or cystic centres and calcifications are options.
3. **B-mode** (:func:`simulate_bmode`): echogenicity from the tissue map (tumour +6 to +12 dB scaled
   by ``p``, necrosis dark, cysts anechoic, calcifications bright, sulci as dark CSF between bright
   pial lines), attenuation accumulated along each beam with time-gain compensation of normal
   brain (so calcifications cast acoustic shadows and cysts posterior enhancement), speckle from
   a complex Gaussian scatterer field convolved with a separable axial x lateral Gaussian
   point-spread function on the beam grid, envelope, electronic noise, log compression (55 dB)
   and scan conversion.
4. **Raters** (:func:`simulate_raters`): each thresholds ``p`` at its own level (a consistent
   per-rater bias plus per-image jitter on the logit) and moves the boundary by a smooth random
   perturbation, then draws one clean filled mask. Rater 0 is the *reference* (like the paper's
   MRI-informed neuroradiologist): unbiased, less jitter.
5. **Virtual confidence annotator** (:func:`virtual_annotator`): the paper's Section 2.2 protocol
   applied to what an expert sees -- high points on the clear core boundary, medium points along
   the outer edge of the fuzzy margin, low points sparsely outside it -- returning a
   :class:`confmap.Annotation`; its confidence map is made by :func:`confmap.confidence_map`.
6. :func:`make_dataset` puts ``n`` phantoms in one ``xarray.Dataset`` (the shared data contract),
   :func:`save_dataset`/:func:`load_dataset` write/read it as NetCDF (atomically), and
   :func:`load_demo` makes (and caches) a small default dataset on demand.

Coordinates follow the package convention: pixel ``(x, y) = (column, row)``, pixel centres on
integers; ``x_mm`` is lateral (0 on the probe axis) and ``y_mm`` is depth below the centre of the
probe face.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage, special

from ._validation import atomic_write, check_choice, check_image_shape, check_int, check_number, describe
from .annotation import TIERS, Annotation, image_sha256, points_table

__all__ = [
    "KINDS",
    "Geometry",
    "Phantom",
    "annotations_from_dataset",
    "dataset_phantom",
    "load_dataset",
    "load_demo",
    "make_dataset",
    "make_phantom",
    "pairwise_dice",
    "save_dataset",
    "simulate_bmode",
    "simulate_raters",
    "tumour_truth",
    "virtual_annotator",
]

#: Tumour kinds and their margin width range (10-90 % width of p, mm).
KINDS = {"well_defined": (0.2, 0.4), "diffuse": (1.5, 3.0)}

SOUND_SPEED_MM_US = 1.54  # mm per microsecond
_LOGIT_WIDTH = 2.0 * math.log(9.0)  # 10-90 % width of a logistic in units of its scale

# Rater model (calibrated on mixed data: see docs/phantom.md).
_RATER_BIAS_SD = 1.2  # spread of the consistent per-rater bias on logit(threshold)
_RATER_JITTER_SD = 0.5  # per-image jitter on logit(threshold)
_RATER_WOBBLE_MM = 0.45  # smooth boundary perturbation, RMS mm, plus ...
_RATER_WOBBLE_PER_MARGIN = 0.55  # ... this much per mm of margin width
_REFERENCE_FACTOR = 0.5  # the reference rater's jitter and wobble relative to the others


# =============================================================================================
# Geometry
# =============================================================================================
@dataclass(frozen=True)
class Geometry:
    """Probe geometry and the pixel grid of the scan-converted image.

    Parameters
    ----------
    size : (int, int), default (256, 256)
        Image shape ``(H, W)`` in pixels.
    probe : {"curvilinear", "linear"}, default "curvilinear"
        Sector (beams fan out from a virtual apex ``radius_mm`` above the probe face) or linear
        (parallel beams).
    angle_deg : float, default 70
        Opening angle of the sector (curvilinear only).
    depth_mm : float, default 50
        Imaging depth below the probe face.
    radius_mm : float, default 12
        Radius of curvature of the probe face (curvilinear only).
    width_mm : float, default 40
        Footprint of a linear probe.

    Notes
    -----
    Pixels are square; the spacing is the smallest that fits the field of view in ``(H, W)``, and
    the field of view is centred horizontally and starts at the top row.
    """

    size: tuple = (256, 256)
    probe: str = "curvilinear"
    angle_deg: float = 70.0
    depth_mm: float = 50.0
    radius_mm: float = 12.0
    width_mm: float = 40.0

    def __post_init__(self):
        object.__setattr__(self, "size", check_image_shape("size", self.size))
        check_choice("probe", self.probe, ("curvilinear", "linear"))
        check_number("angle_deg", self.angle_deg, minimum=1.0, maximum=179.0)
        check_number("depth_mm", self.depth_mm, minimum=0.0, strict_min=True)
        check_number("radius_mm", self.radius_mm, minimum=0.0)
        check_number("width_mm", self.width_mm, minimum=0.0, strict_min=True)

    # extent of the field of view in mm: (x_min, x_max, y_min, y_max)
    @property
    def extent_mm(self) -> tuple[float, float, float, float]:
        if self.probe == "linear":
            return (-self.width_mm / 2, self.width_mm / 2, 0.0, self.depth_mm)
        half = math.radians(self.angle_deg) / 2
        r0, r1 = self.radius_mm, self.radius_mm + self.depth_mm
        return (-r1 * math.sin(half), r1 * math.sin(half), r0 * math.cos(half) - r0, self.depth_mm)

    @property
    def spacing_mm(self) -> float:
        """Pixel spacing in mm (square pixels)."""
        h, w = self.size
        x0, x1, y0, y1 = self.extent_mm
        return max((x1 - x0) / max(w - 1, 1), (y1 - y0) / max(h - 1, 1))

    @property
    def x_mm(self) -> np.ndarray:
        """Lateral position of each column's centre, mm (0 on the probe axis)."""
        w = self.size[1]
        return (np.arange(w) - (w - 1) / 2) * self.spacing_mm

    @property
    def y_mm(self) -> np.ndarray:
        """Depth of each row's centre below the centre of the probe face, mm."""
        return self.extent_mm[2] + np.arange(self.size[0]) * self.spacing_mm

    def to_beam(self, x_mm, y_mm):
        """Beam coordinates ``(depth along the beam mm, lateral coordinate)`` of points.

        The lateral coordinate is the steering angle in radians (curvilinear) or the lateral
        position in mm (linear).
        """
        if self.probe == "linear":
            return np.asarray(y_mm, float), np.asarray(x_mm, float)
        yy = np.asarray(y_mm, float) + self.radius_mm
        xx = np.asarray(x_mm, float)
        return np.hypot(xx, yy) - self.radius_mm, np.arctan2(xx, yy)

    def from_beam(self, depth, lateral):
        """Inverse of :meth:`to_beam`: ``(x_mm, y_mm)`` of beam coordinates."""
        if self.probe == "linear":
            return np.asarray(lateral, float), np.asarray(depth, float)
        r = np.asarray(depth, float) + self.radius_mm
        return r * np.sin(lateral), r * np.cos(lateral) - self.radius_mm

    @property
    def lateral_range(self) -> tuple[float, float]:
        if self.probe == "linear":
            return (-self.width_mm / 2, self.width_mm / 2)
        half = math.radians(self.angle_deg) / 2
        return (-half, half)

    def pixel_beam(self) -> tuple[np.ndarray, np.ndarray]:
        """Beam coordinates ``(depth, lateral)`` of every pixel centre, each ``(H, W)`` (cached)."""
        return _pixel_beam(self)

    def sector(self) -> np.ndarray:
        """Boolean field-of-view mask, shape ``(H, W)``."""
        depth, lat = self.pixel_beam()
        lo, hi = self.lateral_range
        return (depth >= 0) & (depth <= self.depth_mm) & (lat >= lo) & (lat <= hi)


@functools.lru_cache(maxsize=8)
def _pixel_beam(geometry):
    depth, lat = np.broadcast_arrays(
        *geometry.to_beam(geometry.x_mm[None, :], geometry.y_mm[:, None])
    )
    depth, lat = depth.copy(), lat.copy()
    depth.flags.writeable = lat.flags.writeable = False
    return depth, lat


# =============================================================================================
# Small helpers
# =============================================================================================
def _smooth_field(rng, shape, sigma_px):
    """A smooth Gaussian random field with zero mean and unit standard deviation."""
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_px, mode="wrap")
    sd = f.std()
    return f / sd if sd > 0 else f


def _angular_series(rng, theta, rms, *, orders=(1, 6), decay=1.0):
    """A smooth random function of angle: ``sum_m c_m cos(m theta + phi_m)`` scaled to ``rms``."""
    ms = np.arange(orders[0], orders[1] + 1)
    amp = rng.standard_normal(len(ms)) / ms**decay
    phase = rng.uniform(0, 2 * np.pi, len(ms))
    # Tabulate on 4096 angles and interpolate (error < 1e-5 of the RMS for orders <= 8).
    tab_t = np.linspace(-np.pi, np.pi, 4097)
    tab = (amp[:, None] * np.cos(ms[:, None] * tab_t[None, :] + phase[:, None])).sum(0)
    norm = math.sqrt(0.5 * float(np.sum(amp**2)))
    tab *= rms / norm if norm > 0 else 0.0
    return np.interp(np.asarray(theta, float).ravel(), tab_t, tab).reshape(np.shape(theta))


def _largest_filled(mask):
    """The largest connected component of ``mask`` with its holes filled."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return mask.copy()
    crop = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    sub = mask[crop]
    lab, n = ndimage.label(sub)
    if n > 1:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        sub = lab == int(np.argmax(sizes))
    out = np.zeros_like(mask, dtype=bool)
    out[crop] = ndimage.binary_fill_holes(sub)
    return out


def _rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"`seed` must be an integer, a SeedSequence or a Generator, got {describe(seed)}"
        )
    return np.random.default_rng(int(seed))


# =============================================================================================
# Ground truth
# =============================================================================================
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
    if not isinstance(geometry, Geometry):
        raise TypeError(f"`geometry` must be a confmap.phantom.Geometry, got {describe(geometry)}")
    check_choice("kind", kind, tuple(KINDS))
    rng = _rng(seed)
    h, w = geometry.size
    sp = geometry.spacing_mm
    lo, hi = KINDS[kind]
    margin = (
        rng.uniform(lo, hi)
        if margin_mm is None
        else check_number("margin_mm", margin_mm, minimum=0.01)
    )
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
    bound = r0_mm * (1.0 + _angular_series(rng, theta, 0.12, orders=(2, 7), decay=0.8))
    s = rho - bound
    if kind == "diffuse":
        fingers = np.maximum(_smooth_field(rng, (h, w), 1.2 / sp), 0.0)
        s = s - rng.uniform(2.0, 3.5) * fingers * np.exp(-0.5 * (s / 3.0) ** 2)
    scale = margin / _LOGIT_WIDTH
    sector = geometry.sector()
    p = special.expit(-s / scale) * sector

    core = s < -min(1.0, 0.3 * r0_mm)
    necrosis_map = np.zeros((h, w), bool)
    cyst_map = np.zeros((h, w), bool)
    calc_map = np.zeros((h, w), bool)
    if necrosis or cyst:
        frac = rng.uniform(0.3, 0.55)
        inner = rho - frac * bound * (1 + _angular_series(rng, theta, 0.08, orders=(2, 5)))
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
    csf_map = np.zeros((h, w), bool)
    pia_map = np.zeros((h, w), bool)
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


# =============================================================================================
# B-mode simulation
# =============================================================================================
def _tissue_maps(truth, rng, tumour_db):
    """Echogenicity (dB re. normal brain) and attenuation (dB/cm/MHz) on the pixel grid."""
    h, w = truth["p"].shape
    p = truth["p"]
    echo = 1.5 * _smooth_field(rng, (h, w), 12.0)  # slow variation of normal brain
    texture = 2.0 * _smooth_field(rng, (h, w), 2.0)  # anomalous tumour texture
    echo += p * (tumour_db + texture)
    echo = np.where(truth["necrosis_map"], -8.0 + 3.0 * texture, echo)
    echo = np.where(truth["cyst_map"], -40.0, echo)
    echo = np.where(truth["csf_map"], -25.0, echo)
    echo = np.where(truth["pia_map"], 9.0, echo)
    echo = np.where(truth["calc_map"], 22.0, echo)
    att = 0.6 + 0.2 * p
    att = np.where(truth["cyst_map"] | truth["csf_map"], 0.05, att)
    att = np.where(truth["calc_map"], 12.0, att)
    return echo, att


def simulate_bmode(
    geometry: Geometry,
    truth: dict,
    seed,
    *,
    freq_mhz: float = 7.0,
    tumour_db: float | None = None,
    dynamic_range_db: float = 55.0,
    noise_db: float = -45.0,
    psf_mm: tuple[float, float] | None = None,
) -> dict:
    """Simulate the B-mode image of a tumour (convolution model on the beam grid).

    Parameters
    ----------
    geometry : Geometry
        Probe and pixel grid.
    truth : dict
        From :func:`tumour_truth`.
    seed : int, SeedSequence or Generator
        Randomness of the scatterers and noise.
    freq_mhz : float, default 7
        Centre frequency; sets the point-spread function (scaled by ``7 / freq_mhz``) and the
        frequency-dependent attenuation.
    tumour_db : float, optional
        Echogenicity of fully infiltrated tumour relative to normal brain, dB (scaled by ``p``).
        Default uniform in [6, 12].
    dynamic_range_db : float, default 55
        Log-compression dynamic range.
    noise_db : float, default -45
        Electronic noise relative to the mean echo of normal brain.
    psf_mm : (float, float), optional
        Axial and lateral FWHM of the Gaussian point-spread function, mm. Default
        ``(0.35, 0.8) * 7 / freq_mhz``.

    Returns
    -------
    dict
        ``bmode`` (H, W) float32 in [0, 1] (0 outside the sector) and ``loss_db`` (H, W): the
        attenuation loss not compensated by the time-gain compensation (> 0 in acoustic shadows).

    Notes
    -----
    Scatterers ``z ~ CN(0, 1)`` on a beam grid (depth x lateral) sampled at a third of the PSF
    FWHM are weighted by the amplitude ``10^(echo/20)`` and the two-way attenuation gain
    ``10^(-(L - L_TGC)/20)``, ``L(d) = 2 f int_0^d alpha``, convolved with a separable Gaussian
    PSF (one 1-D filter per axis), plus noise; the envelope ``|.|`` is log compressed and scan
    converted (bilinear) to the pixel grid.
    """
    rng = _rng(seed)
    f = check_number("freq_mhz", freq_mhz, minimum=0.5, maximum=50.0)
    dr_db = check_number("dynamic_range_db", dynamic_range_db, minimum=1.0)
    tumour_db = (
        rng.uniform(6.0, 12.0) if tumour_db is None else check_number("tumour_db", tumour_db)
    )
    fwhm_ax, fwhm_lat = (0.35 * 7 / f, 0.8 * 7 / f) if psf_mm is None else psf_mm
    echo, att = _tissue_maps(truth, rng, tumour_db)
    h, w = geometry.size
    sp = geometry.spacing_mm

    # Beam grid: samples at a third of the PSF FWHM (never coarser than the pixels).
    dz = min(fwhm_ax / 3, sp)
    nz = int(math.ceil(geometry.depth_mm / dz)) + 1
    lat_lo, lat_hi = geometry.lateral_range
    if geometry.probe == "linear":
        dl = min(fwhm_lat / 3, sp)
        lat_scale = 1.0
    else:  # lateral sample spacing at mid depth
        dl = min(fwhm_lat / 3, sp) / (geometry.radius_mm + geometry.depth_mm / 2)
        lat_scale = geometry.radius_mm + geometry.depth_mm / 2
    nl = int(math.ceil((lat_hi - lat_lo) / dl)) + 1
    depth = np.linspace(0.0, geometry.depth_mm, nz)
    lat = np.linspace(lat_lo, lat_hi, nl)
    bx, by = np.broadcast_arrays(*geometry.from_beam(depth[:, None], lat[None, :]))
    cols = (bx - geometry.x_mm[0]) / sp
    rows = (by - geometry.y_mm[0]) / sp
    coords = np.stack([rows, cols])
    echo_b = ndimage.map_coordinates(echo, coords, order=1, mode="nearest")
    att_b = ndimage.map_coordinates(att, coords, order=1, mode="nearest")
    ddz = depth[1] - depth[0]
    loss = 2.0 * f * np.cumsum(att_b, axis=0) * (ddz / 10.0)  # dB, two way
    loss_excess = loss - 2.0 * f * 0.6 * depth[:, None] / 10.0
    amp = 10.0 ** ((echo_b - loss_excess) / 20.0)
    z = rng.standard_normal((2, nz, nl)).astype(np.float32)
    fld = amp * z  # real and imaginary parts
    # Separable PSF: sigma in samples along depth and across beams.
    s_ax = fwhm_ax / 2.3548 / ddz
    s_lat = fwhm_lat / 2.3548 / ((lat[1] - lat[0]) * lat_scale)
    fld = _psf_convolve(fld, s_ax, s_lat)
    # Normalise so that normal brain has unit mean intensity, then add noise.
    gain = math.sqrt(2.0 * math.pi) * math.sqrt(s_ax * s_lat)  # 1 / RMS of the filtered field
    fld *= gain
    fld += rng.standard_normal((2, nz, nl)).astype(np.float32) * 10.0 ** (noise_db / 20.0)
    env = np.hypot(fld[0], fld[1])
    db = 20.0 * np.log10(np.maximum(env, 1e-12))
    top = 22.0  # displayed maximum, dB re. normal brain
    img_b = np.clip((db - (top - dr_db)) / dr_db, 0.0, 1.0)
    # Scan conversion to pixels.
    dpx, lpx = geometry.pixel_beam()
    ci = np.stack([dpx / ddz, (lpx - lat_lo) / (lat[1] - lat[0])])
    sector = truth.get("sector")
    if sector is None:
        sector = geometry.sector()
    bmode = ndimage.map_coordinates(img_b, ci, order=1, mode="nearest") * sector
    loss_px = ndimage.map_coordinates(loss_excess, ci, order=1, mode="nearest") * sector
    return {
        "bmode": np.clip(bmode, 0, 1).astype(np.float32),
        "loss_db": loss_px,
        "tumour_db": tumour_db,
    }


def _psf_convolve(fld, s_ax, s_lat):
    """Convolve ``(2, depth, lateral)`` real/imaginary fields with the separable Gaussian PSF.

    Two 1-D passes (``O(k)`` per sample for a ``k x k`` kernel) instead of one 2-D convolution
    (``O(k^2)``); ``benchmarks/bench_phantom.py`` compares both.
    """
    fld = ndimage.gaussian_filter1d(fld, s_ax, axis=1, mode="constant", truncate=3.0)
    return ndimage.gaussian_filter1d(fld, s_lat, axis=2, mode="constant", truncate=3.0)


# =============================================================================================
# Raters
# =============================================================================================
def _rater_biases(n_raters, reference, rng):
    """Consistent per-rater logit biases: the reference 0, the others at spread quantiles."""
    others = n_raters - 1
    q = special.ndtri((np.arange(others) + 0.5) / others) if others > 1 else np.zeros(others)
    q = rng.permutation(q) * _RATER_BIAS_SD
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
    rng = _rng(seed)
    n_raters = check_int("n_raters", n_raters, minimum=1)
    reference = check_int("reference", reference, minimum=0, maximum=n_raters - 1)
    if biases is None:
        biases = _rater_biases(n_raters, reference, rng)
    biases = np.asarray(biases, float)
    if biases.shape != (n_raters,):
        raise ValueError(f"`biases` must have shape ({n_raters},), got {biases.shape}")
    s, scale, sector = truth["s"], truth["scale_mm"], truth["sector"]
    h, w = s.shape
    cx, cy = truth["centre"]
    theta = np.arctan2(np.arange(h)[:, None] - cy, np.arange(w)[None, :] - cx)
    wobble = _RATER_WOBBLE_MM + _RATER_WOBBLE_PER_MARGIN * truth["margin_mm"]
    masks = np.zeros((n_raters, h, w), np.uint8)
    for k in range(n_raters):
        f = _REFERENCE_FACTOR if k == reference else 1.0
        logit_t = biases[k] + f * _RATER_JITTER_SD * rng.standard_normal()
        delta = _angular_series(rng, theta, f * wobble, orders=(1, 6), decay=1.0)
        m = (s < -scale * logit_t + delta) & sector
        masks[k] = _largest_filled(m) if m.any() else m
    return masks


def pairwise_dice(masks) -> float:
    """Mean Dice over all pairs of binary masks (``(R, H, W)``); 1.0 for pairs of empty masks."""
    m = np.asarray(masks).astype(bool)
    if m.ndim != 3:
        raise ValueError(f"`masks` must have shape (R, H, W), got shape {m.shape}")
    flat = m.reshape(len(m), -1).astype(np.float64)
    inter = flat @ flat.T
    sizes = flat.sum(1)
    out = []
    for i in range(len(m)):
        for j in range(i + 1, len(m)):
            tot = sizes[i] + sizes[j]
            out.append(1.0 if tot == 0 else 2 * inter[i, j] / tot)
    if not out:
        raise ValueError("`masks` must hold at least 2 raters for a pairwise Dice")
    return float(np.mean(out))


# =============================================================================================
# Virtual confidence annotator
# =============================================================================================
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
    rng = _rng(seed)
    p = truth["p"]
    h, w = p.shape
    sector = truth["sector"]
    cx, cy = truth["centre"]
    sp = check_number("spacing_mm", spacing_mm, minimum=0.0, strict_min=True)
    r_max = float(np.hypot(h, w))

    def angles(n):
        a = (np.arange(n) + rng.uniform(0, 1)) * (2 * np.pi / n)
        return a + rng.uniform(-0.3, 0.3, n) * (np.pi / n)

    def inside(x, y):
        ok = np.isfinite(x) & np.isfinite(y) & (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
        xi = np.clip(np.rint(np.nan_to_num(x)).astype(int), 0, w - 1)
        yi = np.clip(np.rint(np.nan_to_num(y)).astype(int), 0, h - 1)
        return ok & sector[yi, xi]

    # High: the clear core boundary.
    a_h = angles(check_int("n_high", n_high, minimum=0))
    r_h = _ray_radius(p, cx, cy, a_h, high_level, r_max) - 0.5
    hx, hy = cx + np.cos(a_h) * r_h, cy + np.sin(a_h) * r_h
    ok = inside(hx, hy) & (r_h >= 0)
    hx, hy = hx[ok], hy[ok]
    # Medium: the outer edge of the fuzzy margin.
    a_m = angles(check_int("n_medium", n_medium, minimum=0))
    r_half = _ray_radius(p, cx, cy, a_m, 0.5, r_max)
    r_m = np.fmax(_ray_radius(p, cx, cy, a_m, medium_level, r_max), r_half + 0.6 / sp)
    r_m = r_m + rng.uniform(0.0, 0.3, len(a_m)) / sp
    mx, my = cx + np.cos(a_m) * r_m, cy + np.sin(a_m) * r_m
    ok = inside(mx, my)
    mx, my = mx[ok], my[ok]
    # Low: sparse points outside the fuzzy margin.
    a_l = angles(check_int("n_low", n_low, minimum=0))
    r_lm = np.fmax(
        _ray_radius(p, cx, cy, a_l, medium_level, r_max),
        _ray_radius(p, cx, cy, a_l, 0.5, r_max) + 0.6 / sp,
    )
    gap = (rng.uniform(1.5, 3.0, len(a_l)) + truth["margin_mm"]) / sp
    r_l = r_lm + gap
    lx, ly = cx + np.cos(a_l) * r_l, cy + np.sin(a_l) * r_l
    ok = inside(lx, ly)
    lx, ly = lx[ok], ly[ok]
    # Obscured high points (acoustic shadow) are only medium confidence.
    if loss_db is not None and len(hx):
        shadow = np.asarray(loss_db)[np.rint(hy).astype(int), np.rint(hx).astype(int)] > 10.0
        mx, my = np.concatenate([mx, hx[shadow]]), np.concatenate([my, hy[shadow]])
        hx, hy = hx[~shadow], hy[~shadow]
    sha = image_sha256(image) if image is not None else None
    return Annotation(
        (h, w),
        high=np.column_stack([hx, hy]),
        medium=np.column_stack([mx, my]),
        low=np.column_stack([lx, ly]),
        spacing=(sp, sp),
        image_id=image_id,
        image_sha256=sha,
        annotator="virtual (protocol 2.2)",
        notes=f"confmap.phantom virtual annotator; kind={truth['kind']}, margin={truth['margin_mm']:.2f} mm",
    )


# =============================================================================================
# One phantom, a dataset
# =============================================================================================
@dataclass
class Phantom:
    """One simulated image with its truth, raters and virtual annotation (see :func:`make_phantom`)."""

    bmode: np.ndarray
    truth: np.ndarray
    masks: np.ndarray
    confidence: np.ndarray
    sector: np.ndarray
    annotation: Annotation
    kind: str
    margin_mm: float
    features: dict
    loss_db: np.ndarray


def _confidence(ann, confidence_kwargs):
    from .construct import RippleWarning, confidence_map

    with warnings.catch_warnings():
        # The lattice ripple of the paper's parameters at 256 px is a property of the method,
        # reported in the map's attrs; it is not a problem of the phantom.
        warnings.simplefilter("ignore", RippleWarning)
        cm = confidence_map(ann, **confidence_kwargs)
    return np.asarray(cm.values, dtype=np.float64)


def make_phantom(
    seed,
    *,
    kind: str = "well_defined",
    geometry: Geometry | None = None,
    n_raters: int = 4,
    reference: int = 0,
    rater_biases=None,
    freq_mhz: float = 7.0,
    confidence_kwargs: dict | None = None,
    **truth_options,
) -> Phantom:
    """One phantom: B-mode image, truth, rater masks, virtual annotation and its confidence map.

    Parameters
    ----------
    seed : int, SeedSequence or Generator
        The same seed gives the same phantom.
    kind : {"well_defined", "diffuse"}
        Tumour margin type.
    geometry : Geometry, optional
        Default ``Geometry()`` (256x256 curvilinear sector).
    n_raters, reference, rater_biases
        See :func:`simulate_raters`.
    freq_mhz : float, default 7
        See :func:`simulate_bmode`.
    confidence_kwargs : dict, optional
        Keyword arguments of :func:`confmap.confidence_map` (default: the paper's parameters).
    **truth_options
        ``margin_mm``, ``necrosis``, ``cyst``, ``calcification`` of :func:`tumour_truth`.

    Returns
    -------
    Phantom
    """
    geometry = Geometry() if geometry is None else geometry
    if not isinstance(geometry, Geometry):
        raise TypeError(f"`geometry` must be a confmap.phantom.Geometry, got {describe(geometry)}")
    ss = (
        seed
        if isinstance(seed, np.random.SeedSequence)
        else np.random.SeedSequence(_seed_int(seed))
    )
    s_truth, s_bmode, s_raters, s_ann = ss.spawn(4)
    truth = tumour_truth(geometry, s_truth, kind=kind, **truth_options)
    sim = simulate_bmode(geometry, truth, s_bmode, freq_mhz=freq_mhz)
    sp = geometry.spacing_mm
    masks = simulate_raters(
        truth, s_raters, n_raters=n_raters, reference=reference, biases=rater_biases, spacing_mm=sp
    )
    ann = virtual_annotator(truth, s_ann, spacing_mm=sp, loss_db=sim["loss_db"], image=sim["bmode"])
    conf = _confidence(ann, confidence_kwargs or {})
    return Phantom(
        bmode=sim["bmode"],
        truth=truth["p"],
        masks=masks,
        confidence=conf,
        sector=truth["sector"],
        annotation=ann,
        kind=kind,
        margin_mm=truth["margin_mm"],
        features={k: truth[k] for k in ("necrosis", "cyst", "calcification")},
        loss_db=sim["loss_db"],
    )


def _seed_int(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be a non-negative integer, got {describe(seed)}")
    if seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, got {seed}")
    return int(seed)


def make_dataset(
    n: int,
    *,
    seed: int,
    size=(256, 256),
    kinds: Sequence[str] = ("well_defined", "diffuse"),
    n_raters: int = 4,
    reference_rater: int = 0,
    probe: str = "curvilinear",
    freq_mhz: float = 7.0,
    confidence_kwargs: dict | None = None,
    progress: bool | None = None,
    **truth_options,
):
    """A dataset of ``n`` phantoms in the shared data contract.

    Parameters
    ----------
    n : int
        Number of images (>= 1).
    seed : int
        Non-negative; the same seed (and options) gives the same dataset, and image ``i`` does not
        depend on ``n``.
    size : (int, int), default (256, 256)
        Image shape ``(H, W)``.
    kinds : sequence of {"well_defined", "diffuse"}, default both
        Image ``i`` gets ``kinds[i % len(kinds)]``.
    n_raters : int, default 4
        Simulated raters per image.
    reference_rater : int, default 0
        The less-biased reference rater (like the paper's neuroradiologist).
    probe : {"curvilinear", "linear"}, default "curvilinear"
        See :class:`Geometry`.
    freq_mhz : float, default 7
        Probe centre frequency.
    confidence_kwargs : dict, optional
        Keyword arguments of :func:`confmap.confidence_map` for the virtual annotator's maps.
    progress : bool, optional
        Show a tqdm progress bar (default: when ``n >= 10``).
    **truth_options
        ``margin_mm``, ``necrosis``, ``cyst``, ``calcification`` (see :func:`tumour_truth`).

    Returns
    -------
    xarray.Dataset
        Dims ``image``, ``rater``, ``y``, ``x``, ``point``. Variables: ``bmode`` (image, y, x)
        float32 in [0, 1]; ``truth`` (image, y, x) in [0, 1]; ``masks`` (image, rater, y, x) uint8;
        ``agreement`` (image, y, x) = mean of masks over raters; ``confidence`` (image, y, x) in
        [0, 1]; ``sector`` (image, y, x) bool; ``point_x``, ``point_y`` (image, point) float, NaN
        padded; ``point_tier`` (image, point) str (``""`` padding); ``loss_db`` (image, y, x).
        Coordinates ``image``, ``kind``, ``margin_mm``, ``necrosis``, ``cyst``, ``calcification``
        (per image), ``rater``, ``y``, ``x`` (pixels), ``y_mm``, ``x_mm``. Attributes
        ``reference_rater``, ``spacing_mm`` ``[dy, dx]``, ``rater_biases``, ``seed``, ``probe``,
        ``freq_mhz``.

    Examples
    --------
    >>> from confmap.phantom import make_dataset
    >>> ds = make_dataset(2, seed=0, size=(96, 96))
    >>> ds.masks.shape, list(ds.kind.values)
    ((2, 4, 96, 96), ['well_defined', 'diffuse'])
    """
    import xarray as xr

    n = check_int("n", n, minimum=1)
    seed = _seed_int(seed)
    size = check_image_shape("size", size)
    if isinstance(kinds, str):
        kinds = (kinds,)
    kinds = tuple(kinds)
    if not kinds:
        raise ValueError("`kinds` must name at least one kind, got an empty sequence")
    for k in kinds:
        check_choice("kinds[...]", k, tuple(KINDS))
    n_raters = check_int("n_raters", n_raters, minimum=1)
    reference_rater = check_int("reference_rater", reference_rater, minimum=0, maximum=n_raters - 1)
    geometry = Geometry(size=size, probe=probe)
    root = np.random.SeedSequence(seed)
    s_dataset, s_images = root.spawn(2)
    biases = _rater_biases(n_raters, reference_rater, np.random.default_rng(s_dataset))
    image_seeds = s_images.spawn(n)
    it = range(n)
    if progress is None:
        progress = n >= 10
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="phantoms", unit="image")
    phantoms = [
        make_phantom(
            image_seeds[i],
            kind=kinds[i % len(kinds)],
            geometry=geometry,
            n_raters=n_raters,
            reference=reference_rater,
            rater_biases=biases,
            freq_mhz=freq_mhz,
            confidence_kwargs=confidence_kwargs,
            **truth_options,
        )
        for i in it
    ]
    return _to_dataset(phantoms, geometry, biases, reference_rater, seed, freq_mhz, xr)


def dataset_phantom(
    i: int,
    *,
    seed: int,
    size=(256, 256),
    kinds: Sequence[str] = ("well_defined", "diffuse"),
    n_raters: int = 4,
    reference_rater: int = 0,
    probe: str = "curvilinear",
    freq_mhz: float = 7.0,
    confidence_kwargs: dict | None = None,
    **truth_options,
) -> Phantom:
    """Image ``i`` of ``make_dataset(n, seed=seed, ...)`` alone (for any ``n > i``), as a Phantom.

    Lets a large dataset be made one image at a time (or by many workers: see
    :func:`confmap.batch.make_phantom_folder`) without holding it in memory.

    Parameters
    ----------
    i : int
        Image index (>= 0).
    seed, size, kinds, n_raters, reference_rater, probe, freq_mhz, confidence_kwargs, **truth_options
        As in :func:`make_dataset`.

    Returns
    -------
    Phantom
        Identical to image ``i`` of :func:`make_dataset` with the same arguments.
    """
    i = check_int("i", i, minimum=0)
    seed = _seed_int(seed)
    size = check_image_shape("size", size)
    if isinstance(kinds, str):
        kinds = (kinds,)
    kinds = tuple(kinds)
    if not kinds:
        raise ValueError("`kinds` must name at least one kind, got an empty sequence")
    for k in kinds:
        check_choice("kinds[...]", k, tuple(KINDS))
    n_raters = check_int("n_raters", n_raters, minimum=1)
    reference_rater = check_int("reference_rater", reference_rater, minimum=0, maximum=n_raters - 1)
    # make_dataset: root.spawn(2) -> (dataset, images); images.spawn(n)[i] has spawn_key (1, i)
    s_dataset = np.random.SeedSequence(seed, spawn_key=(0,))
    s_image = np.random.SeedSequence(seed, spawn_key=(1, i))
    biases = _rater_biases(n_raters, reference_rater, np.random.default_rng(s_dataset))
    return make_phantom(
        s_image,
        kind=kinds[i % len(kinds)],
        geometry=Geometry(size=size, probe=probe),
        n_raters=n_raters,
        reference=reference_rater,
        rater_biases=biases,
        freq_mhz=freq_mhz,
        confidence_kwargs=confidence_kwargs,
        **truth_options,
    )


def _to_dataset(phantoms, geometry, biases, reference_rater, seed, freq_mhz, xr):
    n = len(phantoms)
    h, w = geometry.size
    px, py, pt = points_table([ph.annotation for ph in phantoms])
    masks = np.stack([ph.masks for ph in phantoms])
    sp = geometry.spacing_mm
    dims3 = ("image", "y", "x")
    ds = xr.Dataset(
        {
            "bmode": (
                dims3,
                np.stack([ph.bmode for ph in phantoms]).astype(np.float32),
                {"long_name": "B-mode image", "units": "1"},
            ),
            "truth": (
                dims3,
                np.stack([ph.truth for ph in phantoms]),
                {"long_name": "ground-truth infiltration p"},
            ),
            "masks": (("image", "rater", "y", "x"), masks, {"long_name": "simulated rater masks"}),
            "agreement": (
                dims3,
                masks.mean(axis=1, dtype=np.float64),
                {"long_name": "Agreement (mean of rater masks)"},
            ),
            "confidence": (
                dims3,
                np.stack([ph.confidence for ph in phantoms]),
                {"long_name": "confidence map of the virtual annotator"},
            ),
            "sector": (dims3, np.stack([ph.sector for ph in phantoms])),
            "loss_db": (
                dims3,
                np.stack([ph.loss_db for ph in phantoms]).astype(np.float32),
                {"long_name": "uncompensated attenuation loss", "units": "dB"},
            ),
            "point_x": (
                ("image", "point"),
                px,
                {"units": "pixel", "long_name": "annotation point column"},
            ),
            "point_y": (
                ("image", "point"),
                py,
                {"units": "pixel", "long_name": "annotation point row"},
            ),
            "point_tier": (("image", "point"), pt),
        },
        coords={
            "image": np.arange(n),
            "kind": ("image", np.array([ph.kind for ph in phantoms], dtype="<U16")),
            "margin_mm": ("image", np.array([ph.margin_mm for ph in phantoms]), {"units": "mm"}),
            "necrosis": ("image", np.array([ph.features["necrosis"] for ph in phantoms])),
            "cyst": ("image", np.array([ph.features["cyst"] for ph in phantoms])),
            "calcification": ("image", np.array([ph.features["calcification"] for ph in phantoms])),
            "rater": np.arange(masks.shape[1]),
            "y": np.arange(h),
            "x": np.arange(w),
            "y_mm": (
                "y",
                geometry.y_mm,
                {"units": "mm", "long_name": "depth below the probe face"},
            ),
            "x_mm": ("x", geometry.x_mm, {"units": "mm", "long_name": "lateral position"}),
        },
        attrs={
            "title": "confmap simulated intraoperative ultrasound phantom",
            "reference_rater": int(reference_rater),
            "spacing_mm": [float(sp), float(sp)],
            "rater_biases": [float(b) for b in biases],
            "seed": int(seed),
            "probe": geometry.probe,
            "freq_mhz": float(freq_mhz),
            "convention": "(x, y) = (column, row) pixels, pixel centres on integers",
        },
    )
    ds["y"].attrs.update(units="pixel")
    ds["x"].attrs.update(units="pixel")
    return ds


def annotations_from_dataset(ds) -> list[Annotation]:
    """The annotation of each image of a dataset (``point_x``, ``point_y``, ``point_tier``).

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`make_dataset`, :func:`load_dataset` or :func:`confmap.io.load_folder`.

    Returns
    -------
    list of Annotation
        One per image, with ``spacing`` from ``ds.attrs["spacing_mm"]`` when present and
        ``image_id`` the image index (or the ``image_id`` coordinate when present).
    """
    for name in ("point_x", "point_y", "point_tier"):
        if name not in ds:
            raise ValueError(f"`ds` has no {name!r} variable: not a dataset with annotation points")
    shape = (ds.sizes["y"], ds.sizes["x"])
    spacing = ds.attrs.get("spacing_mm")
    spacing = None if spacing is None else tuple(float(v) for v in np.atleast_1d(spacing)[:2])
    xs, ys, ts = ds["point_x"].values, ds["point_y"].values, ds["point_tier"].values.astype(str)
    ids = ds["image_id"].values if "image_id" in ds.coords else ds["image"].values
    out = []
    for i in range(xs.shape[0]):
        tiers = {}
        for t in TIERS:
            sel = (ts[i] == t) & np.isfinite(xs[i])
            tiers[t] = np.column_stack([xs[i][sel], ys[i][sel]])
        out.append(
            Annotation(
                shape,
                **tiers,
                spacing=spacing,
                image_id=str(ids[i]),
                annotator="virtual (protocol 2.2)",
            )
        )
    return out


# =============================================================================================
# Files
# =============================================================================================
def save_dataset(ds, path) -> Path:
    """Write a dataset as NetCDF-4 (netCDF4 or h5netcdf), atomically (temporary file, then rename).

    Parameters
    ----------
    ds : xarray.Dataset
    path : str or os.PathLike
        Destination, conventionally ``*.nc``; its folder is created if needed.

    Returns
    -------
    pathlib.Path
    """
    enc = {
        name: {"zlib": True, "complevel": 4}
        for name, var in ds.data_vars.items()
        if var.dtype.kind in "fiu" and var.ndim >= 3
    }
    return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine=_netcdf_engine(), encoding=enc), suffix=".nc")


def load_dataset(path):
    """Read a dataset written by :func:`save_dataset` (fully loaded into memory, file closed).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    import xarray as xr

    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"no dataset file at {str(path)!r}")
    with xr.open_dataset(path, engine=_netcdf_engine()) as ds:
        ds = ds.load()
    for name in ("kind", "point_tier"):
        if name in ds.variables and ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    return ds


def _netcdf_engine() -> str:
    """``"netcdf4"`` when the netCDF4 library is installed, else ``"h5netcdf"`` (needs h5py)."""
    import importlib.util

    for engine, module in (("netcdf4", "netCDF4"), ("h5netcdf", "h5py")):
        if importlib.util.find_spec(module) is not None:
            return engine
    raise ImportError(
        "writing or reading NetCDF needs the `netCDF4` package or `h5netcdf` with `h5py`: "
        "pip install netCDF4"
    )


def _cache_dir() -> Path:
    base = os.environ.get("CONFMAP_CACHE") or os.environ.get("XDG_CACHE_HOME")
    base = Path(base) if base else Path.home() / ".cache"
    return (base / "confmap") if not os.environ.get("CONFMAP_CACHE") else base


def load_demo(n: int = 12, *, seed: int = 0, size=(256, 256), cache: bool = True, progress=None):
    """The small default phantom dataset, made on demand and cached as NetCDF.

    Parameters
    ----------
    n : int, default 12
        Images (alternating well-defined and diffuse).
    seed : int, default 0
    size : (int, int), default (256, 256)
    cache : bool, default True
        Keep a copy in ``$CONFMAP_CACHE`` (or ``$XDG_CACHE_HOME/confmap``, ``~/.cache/confmap``)
        and read it next time. With ``False`` the dataset is only made in memory.
    progress : bool, optional
        See :func:`make_dataset`.

    Returns
    -------
    xarray.Dataset
        As :func:`make_dataset` ``(n, seed=seed, size=size)``.
    """
    n = check_int("n", n, minimum=1)
    seed = _seed_int(seed)
    size = check_image_shape("size", size)
    if not cache:
        return make_dataset(n, seed=seed, size=size, progress=progress)
    key = hashlib.sha256(f"{_VERSION}|{n}|{seed}|{size}".encode()).hexdigest()[:12]
    path = _cache_dir() / f"phantom_demo_{n}x{size[0]}x{size[1]}_s{seed}_{key}.nc"
    if path.exists():
        try:
            return load_dataset(path)
        except (OSError, ValueError):
            pass  # unreadable cache: make it again
    ds = make_dataset(n, seed=seed, size=size, progress=progress)
    try:
        save_dataset(ds, path)
    except OSError:
        pass  # a read-only cache is not an error
    return ds


# Bump when the simulation changes, so cached demo datasets are made again.
_VERSION = "phantom-1"
