"""The probe geometry (curvilinear sector or linear), the model constants and small helpers."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .._validation import check_choice, check_image_shape, check_number, describe

#: Tumour kinds and their margin width range (10-90 % width of p, mm).
KINDS = {"well_defined": (0.2, 0.4), "diffuse": (1.5, 3.0)}


#: Who annotated the phantoms: the virtual confidence annotator of the protocol (Section 2.2).
VIRTUAL_ANNOTATOR = "virtual (protocol 2.2)"


SOUND_SPEED_MM_US = 1.54  # mm per microsecond


LOGIT_WIDTH = 2.0 * math.log(9.0)  # 10-90 % width of a logistic in units of its scale


# Rater model (calibrated on mixed data: see docs/phantom.md).
RATER_BIAS_SD = 1.2  # spread of the consistent per-rater bias on logit(threshold)


RATER_JITTER_SD = 0.5  # per-image jitter on logit(threshold)


RATER_WOBBLE_MM = 0.45  # smooth boundary perturbation, RMS mm, plus ...


RATER_WOBBLE_PER_MARGIN = 0.55  # ... this much per mm of margin width


REFERENCE_FACTOR = 0.5  # the reference rater's jitter and wobble relative to the others


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
    depth, lat = np.broadcast_arrays(*geometry.to_beam(geometry.x_mm[None, :], geometry.y_mm[:, None]))
    depth, lat = depth.copy(), lat.copy()
    depth.flags.writeable = lat.flags.writeable = False
    return depth, lat


def smooth_field(rng, shape, sigma_px):
    """A smooth Gaussian random field with zero mean and unit standard deviation."""
    f = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_px, mode="wrap")
    sd = f.std()
    return f / sd if sd > 0 else f


def angular_series(rng, theta, rms, *, orders=(1, 6), decay=1.0):
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


def largest_filled(mask):
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


def as_rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an integer, a SeedSequence or a Generator, got {describe(seed)}")
    return np.random.default_rng(int(seed))
