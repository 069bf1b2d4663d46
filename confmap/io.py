"""Real data in and soft maps out.

Readers return a 2-D ``xarray.DataArray`` with dims ``("y", "x")``, grey values as float32 in
[0, 1] (integer images divided by their dtype's maximum, float images as stored), pixel
coordinates ``y``, ``x`` and, when the file says so, ``y_mm``/``x_mm`` and ``attrs["spacing_mm"] =
[dy, dx]``:

- :func:`read_image` -- PNG, JPEG, TIFF, BMP (imageio); colour is converted to grey (ITU-R 601 luma).
- :func:`read_dicom` -- a 2-D ultrasound DICOM (pydicom); RGB/YBR to grey, MONOCHROME1 inverted,
  one frame of a cine; spacing from the ultrasound region sequence (0018,6011), else PixelSpacing.
- :func:`read_volume` -- NIfTI (nibabel, else SimpleITK) or NRRD (SimpleITK), one 2-D slice.
- :func:`load_image` -- any of the above by file extension.

:func:`load_folder` reads a multi-rater folder into the same ``xarray.Dataset`` form as
:func:`confmap.phantom.make_dataset`. Soft maps are written by :func:`save_map` as NetCDF, 16-bit
PNG or NIfTI float32 (every write atomic: a temporary file in the same folder, then a rename) and
read back by :func:`read_map`.

Multi-rater folder layout
-------------------------
::

    root/
      case_001/
        image.png            the image (any readable format: .png .jpg .tif .dcm .nii.gz .nrrd)
        mask_<rater>.png     one binary mask per rater (non-zero = tumour), same shape; raters are
                             sorted by name and must be the same set in every case
        annotation.json      optional: a confmap.Annotation (tiered points) of this image
        kind.txt             optional: a label such as "diffuse" (default "unknown")
      case_002/
        ...

Real data has no ground-truth infiltration field: ``truth`` is the reference rater's mask (the
paper also takes the neuroradiologist's annotation as its ground truth), and
``attrs["truth_source"]`` says so.

pydicom, nibabel and SimpleITK are optional (``pip install confmap[io]``): they are imported only
when a function needs them, with a clear error if missing.
"""

from __future__ import annotations

import io as _io
import os
from pathlib import Path

import numpy as np

from ._validation import atomic_write, atomic_write_bytes, check_choice, check_image_shape, check_int, describe
from .annotation import TIERS, Annotation
from .dataset import build_dataset, netcdf_engine, pixel_coords

__all__ = [
    "IMAGE_SUFFIXES",
    "load_folder",
    "load_image",
    "read_dicom",
    "read_image",
    "read_map",
    "read_volume",
    "save_map",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
DICOM_SUFFIXES = (".dcm", ".dicom")
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr")


# ---------------------------------------------------------------------------------------------
def _require(module: str, purpose: str, pip_name: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{purpose} needs the optional package `{pip_name}`: pip install {pip_name} "
            f"(or pip install 'confmap[io]')"
        ) from None


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _path(path, name="path") -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a path (str or os.PathLike), got {describe(path)}")
    return Path(os.fspath(path))


def _existing(path) -> Path:
    path = _path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    return path


def _to_grey(arr: np.ndarray, name: str) -> np.ndarray:
    """(H, W), (H, W, 3|4) or (H, W, 1) -> (H, W) float32 in [0, 1] for integer input."""
    scale = float(np.iinfo(arr.dtype).max) if arr.dtype.kind in "ui" else 1.0
    if arr.dtype == bool:
        scale = 1.0
    a = arr.astype(np.float64)
    if a.ndim == 3 and a.shape[-1] in (1, 2, 3, 4):
        if a.shape[-1] >= 3:
            a = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
        else:
            a = a[..., 0]
    if a.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D grey or colour image, got an array of shape {arr.shape}"
        )
    return (a / scale).astype(np.float32)


def _as_dataarray(values, spacing=None, name="image", attrs=None):
    import xarray as xr

    coords = pixel_coords(values.shape, spacing)
    attrs = dict(attrs or {})
    if spacing is not None:
        attrs["spacing_mm"] = [float(spacing[0]), float(spacing[1])]
    return xr.DataArray(values, dims=("y", "x"), coords=coords, name=name, attrs=attrs)


# ---------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------
def read_image(path, *, spacing=None):
    """Read a PNG, JPEG, TIFF or BMP image as grey values.

    Parameters
    ----------
    path : str or os.PathLike
    spacing : (float, float), optional
        Pixel spacing ``(dy, dx)`` in mm (plain image files do not carry one).

    Returns
    -------
    xarray.DataArray, shape (H, W), float32
        Integer images divided by their dtype's maximum (so in [0, 1]); colour converted to grey
        with the ITU-R 601 luma weights.

    Raises
    ------
    FileNotFoundError
    ValueError
        If the file is not a 2-D image.
    """
    import imageio.v3 as iio

    path = _existing(path)
    arr = np.asarray(iio.imread(path))
    if arr.ndim == 3 and arr.shape[-1] not in (1, 2, 3, 4):  # a multi-page TIFF: first page
        arr = arr[0]
    grey = _to_grey(arr, f"{str(path)!r}")
    return _as_dataarray(grey, spacing, attrs={"source": str(path)})


def read_dicom(path, *, frame: int = 0):
    """Read a 2-D ultrasound DICOM image as grey values with its pixel spacing.

    Parameters
    ----------
    path : str or os.PathLike
    frame : int, default 0
        Frame of a multi-frame (cine) file.

    Returns
    -------
    xarray.DataArray, shape (H, W), float32
        Grey values scaled by the stored bit depth to [0, 1]; ``attrs["spacing_mm"]`` from the
        first region of the Sequence of Ultrasound Regions (0018,6011) whose physical units are cm
        (code 3) or mm, else from PixelSpacing (0028,0030); absent if neither is there.

    Notes
    -----
    RGB and YBR photometric interpretations are converted to RGB, then to grey (ITU-R 601 luma);
    MONOCHROME1 is inverted so that bright means echogenic.
    """
    pydicom = _require("pydicom", "reading DICOM", "pydicom")
    path = _existing(path)
    ds = pydicom.dcmread(path)
    arr = np.asarray(ds.pixel_array)
    n_frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    photo = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if n_frames > 1:
        frame = check_int("frame", frame, minimum=0, maximum=n_frames - 1)
        arr = arr[frame]
    if photo.startswith("YBR") and arr.ndim == 3:
        from pydicom.pixels import convert_color_space

        arr = convert_color_space(arr, photo, "RGB")
    bits = int(getattr(ds, "BitsStored", 8 * arr.dtype.itemsize))
    a = arr.astype(np.float64)
    if a.ndim == 3 and a.shape[-1] >= 3:
        a = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
    if a.ndim != 2:
        raise ValueError(f"{str(path)!r} is not a 2-D image: pixel data of shape {arr.shape}")
    if arr.dtype.kind in "ui":
        a = a / float(2**bits - 1)
    if photo == "MONOCHROME1":
        a = 1.0 - a
    spacing = _dicom_spacing(ds)
    attrs = {"source": str(path), "photometric": photo}
    return _as_dataarray(np.clip(a, 0, 1).astype(np.float32), spacing, attrs=attrs)


def _dicom_spacing(ds):
    regions = getattr(ds, "SequenceOfUltrasoundRegions", None)
    if regions:
        for reg in regions:
            ux = int(getattr(reg, "PhysicalUnitsXDirection", 0) or 0)
            uy = int(getattr(reg, "PhysicalUnitsYDirection", 0) or 0)
            dx, dy = getattr(reg, "PhysicalDeltaX", None), getattr(reg, "PhysicalDeltaY", None)
            # Units: 3 = cm (the usual), 4 = seconds, ...; only spatial units give a spacing.
            if ux == 3 and uy == 3 and dx and dy:
                return (abs(float(dy)) * 10.0, abs(float(dx)) * 10.0)
    ps = getattr(ds, "PixelSpacing", None)
    if ps is not None and len(ps) == 2:
        return (float(ps[0]), float(ps[1]))
    return None


def read_volume(path, *, axis: int = 0, index: int | None = None):
    """Read one 2-D slice of a NIfTI or NRRD image.

    Parameters
    ----------
    path : str or os.PathLike
        ``.nii``, ``.nii.gz`` (nibabel, else SimpleITK) or ``.nrrd``/``.nhdr`` (SimpleITK).
    axis : {0, 1, 2}, default 0
        Axis of the array ``(z, y, x)`` (ITK order) across which to slice.
    index : int, optional
        Slice index along ``axis`` (default: the middle one). Ignored for a 2-D image.

    Returns
    -------
    xarray.DataArray, shape (rows, cols), float32
        Values as stored (not rescaled), with ``attrs["spacing_mm"]`` of the two remaining axes.
    """
    path = _existing(path)
    suffix = _suffix(path)
    if suffix not in VOLUME_SUFFIXES:
        raise ValueError(
            f"`path` must end in one of {', '.join(VOLUME_SUFFIXES)}, got {path.name!r}"
        )
    axis = check_int("axis", axis, minimum=0, maximum=2)
    if suffix in (".nii", ".nii.gz") and _has("nibabel"):
        import nibabel as nib

        img = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float64)
        zooms = tuple(float(z) for z in img.header.get_zooms()[: data.ndim])
        data = np.transpose(data)  # (i, j, k) -> (k, j, i) = (z, y, x)
        spacing_zyx = tuple(reversed(zooms))
    else:
        sitk = _require("SimpleITK", f"reading {suffix} files", "SimpleITK")
        img = sitk.ReadImage(str(path))
        data = sitk.GetArrayFromImage(img).astype(np.float64)
        spacing_zyx = tuple(reversed([float(s) for s in img.GetSpacing()]))
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 3 and data.shape[0] == 1 and index is None:
        data, spacing_zyx = data[0], spacing_zyx[1:]
    if data.ndim == 2:
        sl, sp = data, spacing_zyx[-2:]
    elif data.ndim == 3:
        n = data.shape[axis]
        index = n // 2 if index is None else check_int("index", index, minimum=0, maximum=n - 1)
        sl = np.take(data, index, axis=axis)
        sp = tuple(s for k, s in enumerate(spacing_zyx) if k != axis)
    else:
        raise ValueError(f"{str(path)!r} holds an array of shape {data.shape}; 2-D or 3-D expected")
    return _as_dataarray(sl.astype(np.float32), sp, attrs={"source": str(path), "slice_axis": axis})


def load_image(path, **kwargs):
    """Read an image of any supported kind, chosen by its extension.

    ``.png .jpg .jpeg .tif .tiff .bmp`` -> :func:`read_image`; ``.dcm .dicom`` or no extension ->
    :func:`read_dicom`; ``.nii .nii.gz .nrrd .nhdr`` -> :func:`read_volume`. Keyword arguments go
    to that reader.
    """
    path = _existing(path)
    suffix = _suffix(path)
    if suffix in IMAGE_SUFFIXES:
        return read_image(path, **kwargs)
    if suffix in DICOM_SUFFIXES or suffix == "":
        return read_dicom(path, **kwargs)
    if suffix in VOLUME_SUFFIXES:
        return read_volume(path, **kwargs)
    allowed = ", ".join(IMAGE_SUFFIXES + DICOM_SUFFIXES + VOLUME_SUFFIXES)
    raise ValueError(f"cannot read {path.name!r}: the extension must be one of {allowed}")


# ---------------------------------------------------------------------------------------------
# Multi-rater folders
# ---------------------------------------------------------------------------------------------
def _is_image_file(p: Path, stem: str) -> bool:
    name = p.name.lower()
    return p.is_file() and (name.startswith(stem + ".") or name == stem)


def load_folder(root, *, reference_rater=0, size=None, confidence_kwargs=None, progress=None):
    """Load a multi-rater folder (see the module docstring) into the phantom's Dataset form.

    Parameters
    ----------
    root : str or os.PathLike
        Folder with one sub-folder per case (sorted by name).
    reference_rater : int or str, default 0
        The reference rater: an index into the sorted rater names, or a name (``"ref"`` for
        ``mask_ref.png``).
    size : (int, int), optional
        Resample every image (bilinear), mask (nearest) and annotation point to ``(H, W)``;
        needed when cases differ in shape.
    confidence_kwargs : dict, optional
        Keyword arguments of :func:`confmap.confidence_map` for the cases' annotations.
    progress : bool, optional
        tqdm progress bar (default: with 10 cases or more).

    Returns
    -------
    xarray.Dataset
        ``bmode``, ``truth`` (the reference rater's mask), ``masks``, ``agreement``,
        ``confidence`` (zeros where a case has no annotation; ``has_annotation`` says which),
        ``sector`` (all True), ``point_x``, ``point_y``, ``point_tier``; coordinates ``image``,
        ``image_id`` (case folder name), ``kind``, ``rater``, ``rater_name``, ``y``, ``x`` and,
        when every case has the same spacing, ``y_mm``, ``x_mm`` and ``attrs["spacing_mm"]``.

    Raises
    ------
    ValueError
        If the folder has no cases, a case has no image or no masks, raters differ between
        cases, or shapes differ (without ``size``).
    """

    from .construct import confidence_map

    root = _existing(root)
    if not root.is_dir():
        raise ValueError(f"`root` must be a folder of case folders, got the file {str(root)!r}")
    cases = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not cases:
        raise ValueError(f"{str(root)!r} holds no case folders (see confmap.io's folder layout)")
    if size is not None:
        size = check_image_shape("size", size)
    it = cases
    if progress is None:
        progress = len(cases) >= 10
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(cases, desc="cases", unit="case")
    rater_names = None
    images, masks, anns, kinds, spacings = [], [], [], [], []
    for case in it:
        files = sorted(case.iterdir())
        img_files = [p for p in files if _is_image_file(p, "image")]
        if not img_files:
            raise ValueError(f"case {case.name!r} has no image file (expected image.<ext>)")
        img = load_image(img_files[0])
        mask_files = {}
        for p in files:
            if p.is_file() and p.name.lower().startswith("mask_"):
                name = p.name[len("mask_") :].split(".")[0]
                mask_files[name] = p
        if not mask_files:
            raise ValueError(f"case {case.name!r} has no mask files (expected mask_<rater>.<ext>)")
        names = sorted(mask_files)
        if rater_names is None:
            rater_names = names
        elif names != rater_names:
            raise ValueError(
                f"case {case.name!r} has raters {names}, but earlier cases have {rater_names}: "
                "every case needs a mask from the same raters"
            )
        m = []
        for nm in names:
            mk = load_image(mask_files[nm]).values
            if mk.shape != img.shape:
                raise ValueError(
                    f"case {case.name!r}: mask_{nm} has shape {mk.shape}, the image {img.shape}"
                )
            m.append(mk > 0)
        m = np.stack(m)
        ann = None
        ann_file = case / "annotation.json"
        if ann_file.exists():
            ann = Annotation.load(ann_file)
            if ann.shape != img.shape:
                raise ValueError(
                    f"case {case.name!r}: annotation.json is for shape {ann.shape}, the image is {img.shape}"
                )
        kind_file = case / "kind.txt"
        kinds.append(kind_file.read_text().strip() if kind_file.exists() else "unknown")
        sp = img.attrs.get("spacing_mm")
        if sp is None and ann is not None and ann.spacing is not None:
            sp = list(ann.spacing)
        if size is not None and img.shape != size:
            img_v, m, ann, sp = _resample_case(img.values, m, ann, sp, size)
        else:
            img_v = img.values
        images.append(np.clip(img_v, 0, None).astype(np.float32))
        masks.append(m.astype(np.uint8))
        anns.append(ann)
        spacings.append(None if sp is None else tuple(float(v) for v in sp))
    shapes = {a.shape for a in images}
    if len(shapes) != 1:
        raise ValueError(
            f"cases have different image shapes {sorted(shapes)}; pass `size=(H, W)` to resample"
        )
    h, w = images[0].shape
    if isinstance(reference_rater, str):
        if reference_rater not in rater_names:
            raise ValueError(
                f"`reference_rater` {reference_rater!r} is not one of the raters {rater_names}"
            )
        ref = rater_names.index(reference_rater)
    else:
        ref = check_int("reference_rater", reference_rater, minimum=0, maximum=len(rater_names) - 1)
    masks = np.stack(masks)
    n = len(cases)
    conf = np.zeros((n, h, w))
    for i, ann in enumerate(anns):
        if ann is not None:
            conf[i] = np.asarray(confidence_map(ann, **(confidence_kwargs or {})).values)
    spacing = spacings[0] if len(set(spacings)) == 1 and spacings[0] is not None else None
    return build_dataset(
        np.stack(images),
        masks,
        annotations=anns,
        confidence=conf,
        truth=masks[:, ref].astype(np.float64),
        spacing=spacing,
        image_coords={
            "image_id": np.array([c.name for c in cases]),
            "kind": np.array(kinds),
            "has_annotation": np.array([a is not None for a in anns]),
        },
        rater_coords={"rater_name": np.array(rater_names)},
        attrs={
            "title": f"confmap multi-rater folder {root.name}",
            "source": str(root),
            "reference_rater": int(ref),
            "truth_source": "reference rater mask (real data has no ground-truth infiltration field)",
        },
    )


def _resample_case(img, masks, ann, spacing, size):
    from scipy import ndimage

    h0, w0 = img.shape
    h, w = size
    fy, fx = h / h0, w / w0
    # Pixel centres map as x' = (x + 0.5) * fx - 0.5.
    ys = (np.arange(h) + 0.5) / fy - 0.5
    xs = (np.arange(w) + 0.5) / fx - 0.5
    grid = np.meshgrid(ys, xs, indexing="ij")
    img2 = ndimage.map_coordinates(img, grid, order=1, mode="nearest").astype(np.float32)
    m2 = np.stack(
        [
            ndimage.map_coordinates(m.astype(np.uint8), grid, order=0, mode="nearest") > 0
            for m in masks
        ]
    )
    if ann is not None:

        def tr(pts):
            if not len(pts):
                return pts
            out = np.column_stack([(pts[:, 0] + 0.5) * fx - 0.5, (pts[:, 1] + 0.5) * fy - 0.5])
            return np.clip(out, -0.5, [w - 0.5, h - 0.5])

        sp = None if ann.spacing is None else (ann.spacing[0] / fy, ann.spacing[1] / fx)
        ann = ann.replace(shape=(h, w), **{t: tr(ann.points(t)) for t in TIERS}, spacing=sp)
    if spacing is not None:
        spacing = (spacing[0] / fy, spacing[1] / fx)
    return img2, m2, ann, spacing


# ---------------------------------------------------------------------------------------------
# Soft maps out
# ---------------------------------------------------------------------------------------------
def _map_values(soft):
    values = np.asarray(getattr(soft, "values", soft), dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"`soft` must be a 2-D map (H, W), got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("`soft` must be finite: got NaN or infinite values")
    return values


def _map_spacing(soft, spacing):
    if spacing is not None:
        return (float(spacing[0]), float(spacing[1]))
    attrs = getattr(soft, "attrs", {}) or {}
    if "spacing_mm" in attrs:
        sp = np.atleast_1d(attrs["spacing_mm"])
        return (float(sp[0]), float(sp[-1]))
    coords = getattr(soft, "coords", {})
    if (
        "y_mm" in coords
        and "x_mm" in coords
        and coords["y_mm"].size > 1
        and coords["x_mm"].size > 1
    ):
        return (
            float(np.diff(coords["y_mm"].values[:2])[0]),
            float(np.diff(coords["x_mm"].values[:2])[0]),
        )
    return None


def save_map(soft, path, *, format: str | None = None, spacing=None):
    """Write a soft map (values in [0, 1]) as NetCDF, 16-bit PNG or NIfTI float32, atomically.

    Parameters
    ----------
    soft : xarray.DataArray or array_like, shape (H, W)
        The map, e.g. from :func:`confmap.confidence_map`. Must be finite.
    path : str or os.PathLike
        Destination; the folder is created if needed.
    format : {"netcdf", "png16", "nifti"}, optional
        Default from the extension: ``.nc`` -> netcdf, ``.png`` -> png16, ``.nii``/``.nii.gz`` ->
        nifti.
    spacing : (float, float), optional
        Pixel spacing ``(dy, dx)`` in mm (default from ``soft.attrs["spacing_mm"]`` or its
        ``y_mm``/``x_mm`` coordinates); stored in NetCDF and NIfTI.

    Returns
    -------
    pathlib.Path

    Notes
    -----
    The 16-bit PNG stores ``round(65535 * clip(map, 0, 1))`` (a step of 1.5e-5); NIfTI stores
    float32 with ``i`` = column and ``j`` = row (ITK order) and pixdim ``(dx, dy, 1)``; NetCDF
    keeps the values, coordinates and attributes exactly.
    """
    path = _path(path)
    values = _map_values(soft)
    spacing = _map_spacing(soft, spacing)
    if format is None:
        suffix = _suffix(path)
        format = {".nc": "netcdf", ".png": "png16", ".nii": "nifti", ".nii.gz": "nifti"}.get(suffix)
        if format is None:
            raise ValueError(
                f"cannot tell the format from {path.name!r}: use .nc, .png, .nii or .nii.gz, or pass `format`"
            )
    check_choice("format", format, ("netcdf", "png16", "nifti"))
    if format == "png16":
        import imageio.v3 as iio

        q = np.rint(np.clip(values, 0.0, 1.0) * 65535.0).astype(np.uint16)
        buf = _io.BytesIO()
        iio.imwrite(buf, q, extension=".png")
        return atomic_write_bytes(path, buf.getvalue())
    if format == "netcdf":
        import xarray as xr

        da = (
            soft
            if isinstance(soft, xr.DataArray)
            else _as_dataarray(values, spacing, name="confidence")
        )
        da = da.copy()
        da.attrs = {k: v for k, v in da.attrs.items() if _netcdf_attr_ok(v)}
        if spacing is not None:
            da.attrs["spacing_mm"] = [spacing[0], spacing[1]]
        ds = da.to_dataset(name=da.name or "confidence")
        return atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine=netcdf_engine()), suffix=".nc")
    # NIfTI float32
    sp = spacing or (1.0, 1.0)
    data = values.astype(np.float32).T[:, :, None]  # (x, y, 1)
    if _has("nibabel"):
        import nibabel as nib

        affine = np.diag([sp[1], sp[0], 1.0, 1.0])
        img = nib.Nifti1Image(data, affine)
        img.header.set_zooms((sp[1], sp[0], 1.0))
        img.header.set_xyzt_units("mm")
        ext = ".nii.gz" if _suffix(path) == ".nii.gz" else ".nii"
        return atomic_write(path, lambda tmp: nib.save(img, tmp), suffix=ext)
    sitk = _require("SimpleITK", "writing NIfTI", "nibabel")
    img = sitk.GetImageFromArray(values.astype(np.float32))
    img.SetSpacing((sp[1], sp[0]))
    ext = ".nii.gz" if _suffix(path) == ".nii.gz" else ".nii"
    return atomic_write(path, lambda tmp: sitk.WriteImage(img, tmp), suffix=ext)


def _netcdf_attr_ok(v):
    if isinstance(v, (str, int, float, np.number)):
        return True
    if isinstance(v, (list, tuple, np.ndarray)):
        arr = np.asarray(v)
        return arr.dtype.kind in "iuf" and arr.ndim == 1
    return False


def read_map(path):
    """Read a soft map written by :func:`save_map` (NetCDF, 16-bit PNG or NIfTI).

    Returns
    -------
    xarray.DataArray, shape (H, W)
        float64 for NetCDF (as written), float32 otherwise; 16-bit PNG values divided by 65535.
    """
    path = _existing(path)
    suffix = _suffix(path)
    if suffix == ".nc":
        import xarray as xr

        with xr.open_dataset(path, engine=netcdf_engine()) as ds:
            ds = ds.load()
        name = next(iter(ds.data_vars))
        return ds[name]
    if suffix == ".png":
        return read_image(path)
    if suffix in (".nii", ".nii.gz"):
        return read_volume(path)
    raise ValueError(f"cannot read a map from {path.name!r}: use .nc, .png, .nii or .nii.gz")
