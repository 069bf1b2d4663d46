"""Where a 2-D image's pixels lie in patient space: spacing, origin and direction.

One small value class, :class:`ImageGeometry`, carried by every image confmap reads and every map it
writes, so a soft map lands exactly on its source image in any viewer.

Conventions (ITK's, which 3D Slicer, SimpleITK and DICOM share):

- A pixel is addressed by its index ``(x, y) = (column, row)`` (confmap's point convention, pixel
  centres on integers); the image plane is slice ``k = 0`` of a one-slice volume.
- Physical positions are **LPS** millimetres (DICOM patient coordinates: +x to the patient's Left,
  +y Posterior, +z Superior)::

      p = origin + direction @ [x * dx, y * dy, k * dz]

  ``origin`` is the centre of pixel (0, 0); the columns of ``direction`` are the unit directions of
  increasing column, increasing row and the slice normal. No half-pixel term.
- ``spacing = (dy, dx)`` in mm: row spacing first, as DICOM PixelSpacing and
  :attr:`confmap.Annotation.spacing`.

NIfTI stores **RAS** (``affine`` maps voxel ``(i, j, k)`` to RAS mm); ITK and Slicer read it as LPS by
negating the first two rows. :meth:`ImageGeometry.nifti_affine` and :meth:`ImageGeometry.from_nifti_affine`
do that conversion, with the NIfTI voxel order ``(i, j, k) = (x, y, 0)`` (write ``a.T[:, :, None]``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._validation import check_array, describe

__all__ = ["ImageGeometry"]

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def _spacing(value) -> tuple[float, float]:
    try:
        dy, dx = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"`spacing` must be two positive numbers (dy, dx) in mm, got {describe(value)}") from None
    if not (math.isfinite(dy) and math.isfinite(dx) and dy > 0 and dx > 0):
        raise ValueError(f"`spacing` must be two positive finite numbers (dy, dx) in mm, got {(dy, dx)}")
    return dy, dx


@dataclasses.dataclass(frozen=True)
class ImageGeometry:
    """Pixel spacing, origin and direction of a 2-D image (ITK / DICOM conventions, LPS mm).

    Parameters
    ----------
    spacing : (float, float)
        ``(dy, dx)``: row and column spacing in mm (DICOM PixelSpacing order).
    origin : (float, float, float), optional
        LPS position in mm of the centre of pixel ``(x, y) = (0, 0)``. Default ``(0, 0, 0)``.
    direction : array-like, shape (3, 3), optional
        Orthonormal matrix whose columns are the LPS directions of increasing column ``x``,
        increasing row ``y`` and the slice normal. Default the identity.
    slice_thickness : float, optional
        Spacing along the normal in mm (only used to write one-slice volumes). Default 1.

    Examples
    --------
    >>> g = ImageGeometry(spacing=(0.5, 0.25))
    >>> g.index_to_physical([[10, 5]]).tolist()
    [[2.5, 2.5, 0.0]]
    >>> g.physical_to_index([[2.5, 2.5, 0.0]]).tolist()
    [[10.0, 5.0]]
    """

    spacing: tuple[float, float] = (1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    slice_thickness: float = 1.0

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "spacing", _spacing(self.spacing))
        origin = check_array("origin", self.origin, ndim=1)
        if origin.shape != (3,) or not np.isfinite(origin).all():
            raise ValueError(f"`origin` must be 3 finite numbers (LPS mm), got {describe(self.origin)}")
        set_(self, "origin", tuple(float(v) for v in origin))
        d = np.asarray(self.direction, dtype=float)
        if d.size != 9 or not np.isfinite(d).all():
            raise ValueError(f"`direction` must be a finite 3x3 matrix, got {describe(self.direction)}")
        d = d.reshape(3, 3)
        if not np.allclose(d.T @ d, np.eye(3), atol=1e-6):
            raise ValueError(
                f"`direction` must be orthonormal (columns of unit length, at right angles), got {d.tolist()}"
            )
        set_(self, "direction", tuple(float(v) for v in d.ravel()))
        t = float(self.slice_thickness)
        if not (math.isfinite(t) and t > 0):
            raise ValueError(f"`slice_thickness` must be a positive number in mm, got {self.slice_thickness!r}")
        set_(self, "slice_thickness", t)

    # -- derived ---------------------------------------------------------------------------
    @property
    def matrix(self) -> np.ndarray:
        """``direction`` as a (3, 3) array (columns: x, y, normal)."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def is_identity(self) -> bool:
        """True when origin is 0 and direction is the identity (only the spacing is known)."""
        return self.origin == (0.0, 0.0, 0.0) and np.array_equal(self.matrix, np.eye(3))

    def replace(self, **changes) -> ImageGeometry:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # -- points ----------------------------------------------------------------------------
    def index_to_physical(self, points) -> np.ndarray:
        """Pixel points ``(x, y)`` (N, 2) -> LPS positions (N, 3) in mm."""
        pts = check_array("points", points, ndim=2)
        if pts.shape[1] != 2:
            raise ValueError(f"`points` must have shape (N, 2) of (x, y) pixels, got {pts.shape}")
        dy, dx = self.spacing
        scaled = np.column_stack([pts[:, 0] * dx, pts[:, 1] * dy, np.zeros(len(pts))])
        return np.asarray(self.origin) + scaled @ self.matrix.T

    def physical_to_index(self, positions, *, max_offplane: float = 0.5) -> np.ndarray:
        """LPS positions (N, 3) in mm -> pixel points ``(x, y)`` (N, 2).

        Raises ``ValueError`` if a position lies ``max_offplane`` slice thicknesses or more off the
        image plane (a point from another slice, or a wrong coordinate system).
        """
        p = check_array("positions", positions, ndim=2)
        if p.shape[1] != 3:
            raise ValueError(f"`positions` must have shape (N, 3) of LPS mm, got {p.shape}")
        local = (p - np.asarray(self.origin)) @ self.matrix  # = D^T (p - O), row-wise
        dy, dx = self.spacing
        k = local[:, 2] / self.slice_thickness
        bad = np.flatnonzero(~(np.abs(k) < max_offplane))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"position {p[i].tolist()} (LPS mm) lies {k[i]:.3g} slice thicknesses off the image plane "
                f"(allowed < {max_offplane}); is it from another slice or in RAS instead of LPS?"
            )
        return np.column_stack([local[:, 0] / dx, local[:, 1] / dy])

    # -- NIfTI / ITK -----------------------------------------------------------------------
    def nifti_affine(self) -> np.ndarray:
        """The (4, 4) RAS affine for NIfTI voxel ``(i, j, k) = (x, y, 0)`` (data ``a.T[:, :, None]``)."""
        dy, dx = self.spacing
        a = np.eye(4)
        a[:3, :3] = _LPS_TO_RAS @ self.matrix @ np.diag([dx, dy, self.slice_thickness])
        a[:3, 3] = _LPS_TO_RAS @ np.asarray(self.origin)
        return a

    @classmethod
    def from_nifti_affine(cls, affine) -> ImageGeometry:
        """Inverse of :meth:`nifti_affine` (voxel order ``(x, y, k)``, RAS affine)."""
        a = check_array("affine", affine, ndim=2)
        if a.shape != (4, 4):
            raise ValueError(f"`affine` must be 4x4, got shape {a.shape}")
        m = _LPS_TO_RAS @ a[:3, :3]
        zooms = np.linalg.norm(m, axis=0)
        if not (zooms > 0).all():
            raise ValueError(f"`affine` has a zero-length axis: {a.tolist()}")
        return cls(
            spacing=(zooms[1], zooms[0]),
            origin=tuple(_LPS_TO_RAS @ a[:3, 3]),
            direction=tuple((m / zooms).ravel()),
            slice_thickness=zooms[2],
        )

    def itk_parameters(self) -> dict:
        """``{"spacing", "origin", "direction"}`` for a SimpleITK 3-D image of shape (1, H, W)."""
        dy, dx = self.spacing
        return {"spacing": (dx, dy, self.slice_thickness), "origin": self.origin, "direction": self.direction}

    @classmethod
    def from_itk(cls, image) -> ImageGeometry:
        """From a SimpleITK 2-D or 3-D image (its index ``(i, j[, k])`` is ``(x, y[, 0])``)."""
        sp = image.GetSpacing()
        if len(sp) == 2:
            d = np.eye(3)
            d[:2, :2] = np.asarray(image.GetDirection()).reshape(2, 2)
            o = (*image.GetOrigin(), 0.0)
            return cls(spacing=(sp[1], sp[0]), origin=o, direction=tuple(d.ravel()))
        return cls(
            spacing=(sp[1], sp[0]), origin=image.GetOrigin(), direction=image.GetDirection(), slice_thickness=sp[2]
        )

    @classmethod
    def from_dicom(cls, ds) -> ImageGeometry | None:
        """From a pydicom ``Dataset`` of a 2-D image; ``None`` if it has no pixel spacing.

        In order of preference:

        1. the Image Plane module: ImagePositionPatient (0020,0032) as ``origin``,
           ImageOrientationPatient (0020,0037) (row cosine = direction of increasing column ``x``,
           column cosine = direction of increasing row ``y``; normal = their cross product) and
           PixelSpacing (0028,0030) ``[row, column]`` = ``(dy, dx)``;
        2. the first region of the Sequence of Ultrasound Regions (0018,6011) whose physical units
           are cm in both directions (code 3): ``PhysicalDeltaY/X`` times 10, origin 0, identity;
        3. PixelSpacing alone: origin 0, identity direction.

        Ultrasound images usually have only (2): their patient position is unknown, so the origin
        is 0 and the direction the identity (the same convention as a PNG with a spacing).
        """
        ps = getattr(ds, "PixelSpacing", None)
        ipp = getattr(ds, "ImagePositionPatient", None)
        iop = getattr(ds, "ImageOrientationPatient", None)
        thickness = getattr(ds, "SliceThickness", None)
        thickness = float(thickness) if thickness not in (None, "") and float(thickness) > 0 else 1.0
        if ps is not None and len(ps) == 2 and ipp is not None and len(ipp) == 3 and iop is not None and len(iop) == 6:
            row, col = np.asarray([float(v) for v in iop]).reshape(2, 3)
            norms = np.linalg.norm(row), np.linalg.norm(col)
            if min(norms) == 0 or abs(float(row @ col)) > 1e-4 * norms[0] * norms[1]:
                raise ValueError(
                    f"ImageOrientationPatient (0020,0037) must be two orthogonal unit vectors, got {list(iop)}"
                )
            row, col = row / norms[0], col / norms[1]
            col = col - (row @ col) * row  # remove the rounding of decimal strings
            col /= np.linalg.norm(col)
            d = np.column_stack([row, col, np.cross(row, col)])
            return cls(
                spacing=(float(ps[0]), float(ps[1])),
                origin=tuple(float(v) for v in ipp),
                direction=tuple(d.ravel()),
                slice_thickness=thickness,
            )
        for reg in getattr(ds, "SequenceOfUltrasoundRegions", None) or ():
            ux = int(getattr(reg, "PhysicalUnitsXDirection", 0) or 0)
            uy = int(getattr(reg, "PhysicalUnitsYDirection", 0) or 0)
            dx, dy = getattr(reg, "PhysicalDeltaX", None), getattr(reg, "PhysicalDeltaY", None)
            # Units: 3 = cm (the usual), 4 = seconds, ...; only spatial units give a spacing.
            if ux == 3 and uy == 3 and dx and dy:
                return cls(spacing=(abs(float(dy)) * 10.0, abs(float(dx)) * 10.0))
        if ps is not None and len(ps) == 2:
            return cls(spacing=(float(ps[0]), float(ps[1])))
        return None

    # -- attrs (NetCDF) --------------------------------------------------------------------
    def to_attrs(self) -> dict:
        """Flat attributes for a DataArray / NetCDF: ``spacing_mm``, ``origin_lps_mm``, ``direction_lps``."""
        return {
            "spacing_mm": list(self.spacing),
            "origin_lps_mm": list(self.origin),
            "direction_lps": list(self.direction),
            "slice_thickness_mm": self.slice_thickness,
        }

    @classmethod
    def from_attrs(cls, attrs) -> ImageGeometry | None:
        """From :meth:`to_attrs`'s keys; ``None`` if ``attrs`` has no ``spacing_mm``."""
        if "spacing_mm" not in attrs:
            return None
        keys = {"spacing": "spacing_mm", "origin": "origin_lps_mm", "direction": "direction_lps"}
        kw = {field: tuple(np.ravel(attrs[key])) for field, key in keys.items() if key in attrs}
        if "slice_thickness_mm" in attrs:
            kw["slice_thickness"] = float(np.ravel(attrs["slice_thickness_mm"])[0])
        return cls(**kw)
