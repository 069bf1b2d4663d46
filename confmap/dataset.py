"""The one Dataset contract of confmap: what a dataset of annotated images holds, built and checked once.

Simulated phantoms (:func:`confmap.phantom.make_dataset`) and real multi-rater folders
(:func:`confmap.io.load_folder`) both build their ``xarray.Dataset`` with :func:`build_dataset`;
the evaluation, the cross-validation and the notebooks read it.

=============  ===========================  =====================================================
variable       dims                         meaning
=============  ===========================  =====================================================
``bmode``      (image, y, x) float32        the B-mode image
``truth``      (image, y, x) float          ground-truth infiltration p (phantom) or the reference
                                            rater's mask (real data)
``masks``      (image, rater, y, x) bool    the raters' binary masks (bool or uint8)
``agreement``  (image, y, x) float64        their mean over raters (the paper's Agreement)
``confidence`` (image, y, x) float64        the confidence map of the annotation
``sector``     (image, y, x) bool           the field of view (pixels that count)
``point_x``    (image, point) float         annotation points, columns (NaN pads), see
``point_y``    (image, point) float         :func:`confmap.points_table`
``point_tier`` (image, point) str           their tiers ("" pads)
=============  ===========================  =====================================================

Coordinates ``image``, ``rater``, ``y``, ``x`` (pixel centres, integers) and, with a pixel spacing,
``y_mm``, ``x_mm`` and ``attrs["spacing_mm"] = [dy, dx]``. Points are ``(x, y) = (column, row)``
pixels while a spacing is ``(dy, dx)`` mm, row first like the array's axes (and like
``Annotation.spacing``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._validation import atomic_write, check_type
from .annotation import TIERS, Annotation, points_table

__all__ = [
    "CONVENTION",
    "VARIABLES",
    "annotations_from_dataset",
    "build_dataset",
    "check_dataset",
    "load_dataset",
    "netcdf_engine",
    "pixel_coords",
    "save_dataset",
]

_IMAGE = ("image", "y", "x")
_POINT = ("image", "point")
#: Variable name -> (dims, allowed dtype kinds, long name): the contract's variables.
VARIABLES = {
    "bmode": (_IMAGE, "f", "B-mode image"),
    "truth": (_IMAGE, "f", "reference (ground-truth infiltration p, or the reference rater's mask)"),
    "masks": (("image", "rater", "y", "x"), "bui", "rater masks"),
    "agreement": (_IMAGE, "f", "Agreement (mean of rater masks)"),
    "confidence": (_IMAGE, "f", "confidence map"),
    "sector": (_IMAGE, "b", "field of view"),
    "point_x": (_POINT, "f", "annotation point column"),
    "point_y": (_POINT, "f", "annotation point row"),
    "point_tier": (_POINT, "UO", "annotation point tier"),
}
#: The coordinate convention, stored in every dataset's attrs.
CONVENTION = "(x, y) = (column, row) pixels, pixel centres on integers; spacing_mm = (dy, dx)"


def pixel_coords(shape, spacing=None, *, origin=(0.0, 0.0), mm_names=None) -> dict:
    """The pixel-centre coordinates of an ``(H, W)`` image, and mm ones with a spacing.

    Parameters
    ----------
    shape : (int, int)
        ``(H, W)`` pixels.
    spacing : (float, float), optional
        ``(dy, dx)`` in mm per pixel (row first, like the array's axes).
    origin : (float, float), default (0, 0)
        ``(y_mm, x_mm)`` of the pixel ``(0, 0)``.
    mm_names : (str, str), optional
        Long names of ``y_mm`` and ``x_mm`` (e.g. depth, lateral position).

    Returns
    -------
    dict
        ``{"y": ("y", 0..H-1, attrs), "x": ..., "y_mm": ..., "x_mm": ...}``, ready for the
        ``coords`` of an ``xarray.DataArray`` or ``Dataset``.

    Examples
    --------
    >>> c = pixel_coords((2, 3), (0.5, 0.25))
    >>> c["x"][1].tolist(), c["x_mm"][1].tolist(), c["y_mm"][2]["units"]
    ([0, 1, 2], [0.0, 0.25, 0.5], 'mm')
    """
    h, w = (int(v) for v in shape)
    coords = {
        "y": ("y", np.arange(h), {"units": "pixel", "long_name": "row (pixel centre)"}),
        "x": ("x", np.arange(w), {"units": "pixel", "long_name": "column (pixel centre)"}),
    }
    if spacing is not None:
        dy, dx = (float(v) for v in spacing)
        ny, nx = mm_names or ("row position", "column position")
        coords["y_mm"] = ("y", origin[0] + np.arange(h) * dy, {"units": "mm", "long_name": ny})
        coords["x_mm"] = ("x", origin[1] + np.arange(w) * dx, {"units": "mm", "long_name": nx})
    return coords


def build_dataset(
    bmode,
    masks,
    *,
    annotations,
    confidence,
    truth,
    sector=None,
    spacing=None,
    origin=(0.0, 0.0),
    mm_names=None,
    image_coords=None,
    rater_coords=None,
    data_vars=None,
    attrs=None,
):
    """Build a dataset of the contract (see the module docstring).

    Parameters
    ----------
    bmode : array_like, shape (N, H, W)
        Images (stored as float32).
    masks : array_like, shape (N, R, H, W)
        Binary rater masks (bool or uint8, kept); ``agreement`` is their mean over raters.
    annotations : sequence of Annotation or None, length N
        One per image (None: no annotation), stored as the points table.
    confidence : array_like, shape (N, H, W)
        Confidence maps (float64).
    truth : array_like, shape (N, H, W)
        Ground truth or the reference rater's mask (float64).
    sector : array_like of bool, shape (N, H, W), optional
        The field of view; default every pixel.
    spacing, origin, mm_names
        Pixel spacing ``(dy, dx)`` mm and the mm coordinates, see :func:`pixel_coords`.
    image_coords, rater_coords : dict, optional
        Extra coordinates along ``image`` / ``rater`` (name -> values, or (values, attrs)).
    data_vars : dict, optional
        Extra variables (name -> (dims, values[, attrs])).
    attrs : dict, optional
        Dataset attributes; ``convention`` and (with a spacing) ``spacing_mm`` are added.

    Returns
    -------
    xarray.Dataset
        Passes :func:`check_dataset`.
    """
    import xarray as xr

    bmode = np.asarray(bmode, dtype=np.float32)
    masks = np.asarray(masks)
    n, r = masks.shape[:2]
    h, w = bmode.shape[1:]
    px, py, pt = points_table(annotations)
    coords = {
        "image": np.arange(n),
        "rater": np.arange(r),
        **pixel_coords((h, w), spacing, origin=origin, mm_names=mm_names),
    }
    for dim, extra in (("image", image_coords), ("rater", rater_coords)):
        for name, value in (extra or {}).items():
            coords[name] = (dim, *value) if isinstance(value, tuple) else (dim, np.asarray(value))
    variables = {
        "bmode": bmode,
        "truth": np.asarray(truth, dtype=np.float64),
        "masks": masks,
        "agreement": masks.mean(axis=1, dtype=np.float64),
        "confidence": np.asarray(confidence, dtype=np.float64),
        "sector": np.ones((n, h, w), bool) if sector is None else np.asarray(sector, dtype=bool),
        "point_x": px,
        "point_y": py,
        "point_tier": pt,
    }
    data = {name: (VARIABLES[name][0], value, {"long_name": VARIABLES[name][2]}) for name, value in variables.items()}
    for name in ("point_x", "point_y"):
        data[name][2]["units"] = "pixel"
    data.update(data_vars or {})
    attrs = {**(attrs or {}), "convention": CONVENTION}
    if spacing is not None:
        attrs["spacing_mm"] = [float(spacing[0]), float(spacing[1])]
    return check_dataset(xr.Dataset(data, coords=coords, attrs=attrs))


def check_dataset(ds, *, require=tuple(VARIABLES)):
    """Check that ``ds`` holds the contract's variables ``require`` with their dims and dtypes.

    Returns
    -------
    xarray.Dataset
        ``ds`` itself.

    Raises
    ------
    TypeError
        If ``ds`` is not an ``xarray.Dataset``.
    ValueError
        Naming the first missing variable, or one with the wrong dims or dtype.
    """
    import xarray as xr

    check_type("ds", ds, xr.Dataset, "an xarray.Dataset")
    for name in require:
        if name not in VARIABLES:
            raise ValueError(f"`require` must name variables of {sorted(VARIABLES)}, got {name!r}")
        dims, kinds, _ = VARIABLES[name]
        if name not in ds.variables:
            raise ValueError(
                f"`ds` has no {name!r} variable: it is missing (needed: {list(require)}; it has {sorted(ds.variables)})"
            )
        var = ds[name]
        if var.dims != dims:
            raise ValueError(f"`ds[{name!r}]` must have dims {dims}, got {var.dims}")
        if var.dtype.kind not in kinds:
            raise ValueError(f"`ds[{name!r}]` must have a dtype of kind {kinds!r}, got {var.dtype}")
    return ds


def annotations_from_dataset(ds, *, annotator: str | None = None) -> list[Annotation]:
    """The annotation of each image of a dataset (``point_x``, ``point_y``, ``point_tier``).

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`confmap.phantom.make_dataset`, :func:`load_dataset` or
        :func:`confmap.io.load_folder`.
    annotator : str, optional
        Who annotated; default ``ds.attrs["annotator"]`` (the phantom's virtual annotator), else "".

    Returns
    -------
    list of Annotation
        One per image, with ``spacing`` from ``ds.attrs["spacing_mm"]`` when present and
        ``image_id`` the image index (or the ``image_id`` coordinate when present).
    """
    check_dataset(ds, require=("point_x", "point_y", "point_tier"))
    if annotator is None:
        annotator = str(ds.attrs.get("annotator", ""))
    shape = (ds.sizes["y"], ds.sizes["x"])
    spacing = ds.attrs.get("spacing_mm")
    spacing = None if spacing is None else tuple(float(v) for v in np.atleast_1d(spacing)[:2])
    xs, ys, ts = ds["point_x"].values, ds["point_y"].values, ds["point_tier"].values.astype(str)
    ids = ds["image_id"].values if "image_id" in ds.coords else ds["image"].values
    out = []
    for i in range(xs.shape[0]):
        sel = {t: (ts[i] == t) & np.isfinite(xs[i]) for t in TIERS}
        tiers = {t: np.column_stack([xs[i][s], ys[i][s]]) for t, s in sel.items()}
        out.append(Annotation(shape, **tiers, spacing=spacing, image_id=str(ids[i]), annotator=annotator))
    return out


def netcdf_engine() -> str:
    """``"netcdf4"`` when the netCDF4 library is installed, else ``"h5netcdf"`` (needs h5py)."""
    import importlib.util

    for engine, module in (("netcdf4", "netCDF4"), ("h5netcdf", "h5py")):
        if importlib.util.find_spec(module) is not None:
            return engine
    raise ImportError(
        "writing or reading NetCDF needs the `netCDF4` package or `h5netcdf` with `h5py`: pip install netCDF4"
    )


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
    return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine=netcdf_engine(), encoding=enc), suffix=".nc")


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
    with xr.open_dataset(path, engine=netcdf_engine()) as ds:
        ds = ds.load()
    for name in ("kind", "point_tier"):
        if name in ds.variables and ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    return ds
