"""The B-mode simulation: echogenicity, attenuation, speckle through a point-spread function, log compression."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .._validation import check_number
from ._geometry import Geometry, as_rng, smooth_field


def _tissue_maps(truth, rng, tumour_db):
    """Echogenicity (dB re. normal brain) and attenuation (dB/cm/MHz) on the pixel grid."""
    p = truth["p"]
    echo = 1.5 * smooth_field(rng, p.shape, 12.0)  # slow variation of normal brain
    texture = 2.0 * smooth_field(rng, p.shape, 2.0)  # anomalous tumour texture
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
    rng = as_rng(seed)
    f = check_number("freq_mhz", freq_mhz, minimum=0.5, maximum=50.0)
    dr_db = check_number("dynamic_range_db", dynamic_range_db, minimum=1.0)
    tumour_db = rng.uniform(6.0, 12.0) if tumour_db is None else check_number("tumour_db", tumour_db)
    fwhm_ax, fwhm_lat = (0.35 * 7 / f, 0.8 * 7 / f) if psf_mm is None else psf_mm
    echo, att = _tissue_maps(truth, rng, tumour_db)
    sp = geometry.spacing_mm

    # Beam grid: samples at a third of the PSF FWHM (never coarser than the pixels).
    dz = min(fwhm_ax / 3, sp)
    nz = int(math.ceil(geometry.depth_mm / dz)) + 1
    lat_lo, lat_hi = geometry.lateral_range
    # mm per lateral unit: 1 (linear) or the radius at mid depth (curvilinear, per radian)
    lat_scale = 1.0 if geometry.probe == "linear" else geometry.radius_mm + geometry.depth_mm / 2
    dl = min(fwhm_lat / 3, sp) / lat_scale
    nl = int(math.ceil((lat_hi - lat_lo) / dl)) + 1
    depth = np.linspace(0.0, geometry.depth_mm, nz)
    lat = np.linspace(lat_lo, lat_hi, nl)
    bx, by = np.broadcast_arrays(*geometry.from_beam(depth[:, None], lat[None, :]))
    coords = np.stack([(by - geometry.y_mm[0]) / sp, (bx - geometry.x_mm[0]) / sp])  # (row, column) of each sample
    echo_b = ndimage.map_coordinates(echo, coords, order=1, mode="nearest")
    att_b = ndimage.map_coordinates(att, coords, order=1, mode="nearest")
    ddz = depth[1] - depth[0]
    loss = 2.0 * f * np.cumsum(att_b, axis=0) * (ddz / 10.0)  # dB, two way
    loss_excess = loss - 2.0 * f * 0.6 * depth[:, None] / 10.0
    amp = 10.0 ** ((echo_b - loss_excess) / 20.0)
    fld = amp * rng.standard_normal((2, nz, nl)).astype(np.float32)  # real and imaginary parts
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
    sector = geometry.sector() if truth.get("sector") is None else truth["sector"]
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
