"""Real data in and soft maps out.

Readers return a 2-D ``xarray.DataArray`` with dims ``("y", "x")``, grey values as float32 in
[0, 1] (integer images divided by their dtype's maximum, float images as stored), pixel
coordinates ``y``, ``x`` and, when the file says so, the image geometry
(:class:`confmap.geometry.ImageGeometry`: ``attrs`` ``spacing_mm = [dy, dx]``, ``origin_lps_mm``,
``direction_lps``, ``slice_thickness_mm``; coordinates ``y_mm``/``x_mm``):

- :func:`read_image` -- PNG, JPEG, TIFF, BMP (imageio); colour is converted to grey (ITU-R 601 luma).
- :func:`read_dicom` -- one frame of a 2-D ultrasound DICOM (pydicom), with its geometry.
- :func:`read_volume` -- one 2-D slice of a NIfTI or NRRD image, with its position and orientation.
- :func:`load_image` -- any of the above by file extension.

:func:`load_folder` reads a multi-rater folder into the same ``xarray.Dataset`` form as
:func:`confmap.phantom.make_dataset`. Soft maps are written by :func:`save_map` as NetCDF, 16-bit
PNG, NIfTI float32 or NRRD float32 with their source image's geometry (every write atomic: a
temporary file in the same folder, then a rename) and read back by :func:`read_map`; DICOM-SEG and
the writers themselves are in :mod:`confmap.export`.

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

pydicom, nibabel, pynrrd, highdicom and SimpleITK are optional (``pip install confmap[io]``): they are imported only
when a function needs them, with a clear error if missing.
"""

from __future__ import annotations

import importlib.util
import io as _io

import numpy as np

from ._validation import (
    atomic_write_bytes,
    check_choice,
    check_image_shape,
    check_int,
    check_path,
    file_suffix,
    import_optional,
    progress_bar,
)
from .annotation import TIERS, Annotation
from .dataset import build_dataset, load_dataset, pixel_coords, save_dataset
from .export import check_map, map_geometry, write_nifti, write_nrrd
from .geometry import ImageGeometry

__all__ = [
    "IMAGE_SUFFIXES",
    "MAP_FORMATS",
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
def _has(module: str) -> bool:  # a seam: tests read NIfTI with SimpleITK by patching it
    return importlib.util.find_spec(module) is not None


def _to_grey(arr: np.ndarray, name: str, *, scale: float | None = None) -> np.ndarray:
    """(H, W), (H, W, 3|4) or (H, W, 1) -> (H, W) float64, integers divided by ``scale``.

    ``scale`` defaults to the integer dtype's maximum (so [0, 1]); colour becomes ITU-R 601 luma.
    """
    if scale is None:
        scale = float(np.iinfo(arr.dtype).max) if arr.dtype.kind in "ui" else 1.0  # bool (kind "b"): 1
    a = arr.astype(np.float64)
    if a.ndim == 3 and a.shape[-1] in (1, 2, 3, 4):
        if a.shape[-1] >= 3:
            a = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
        else:
            a = a[..., 0]
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D grey or colour image, got an array of shape {arr.shape}")
    return a / scale if arr.dtype.kind in "ui" else a


def _as_dataarray(values, geometry=None, name="image", attrs=None):
    """A (H, W) DataArray; ``geometry`` (ImageGeometry or (dy, dx)) into attrs and mm coordinates."""
    import xarray as xr

    if geometry is not None and not isinstance(geometry, ImageGeometry):
        geometry = ImageGeometry(spacing=geometry)
    coords = pixel_coords(values.shape, None if geometry is None else geometry.spacing)
    attrs = dict(attrs or {})
    if geometry is not None:
        attrs.update(geometry.to_attrs())
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

    path = check_path("path", path, exists=True)
    arr = np.asarray(iio.imread(path))
    if arr.ndim == 3 and arr.shape[-1] not in (1, 2, 3, 4):  # a multi-page TIFF: first page
        arr = arr[0]
    grey = _to_grey(arr, f"{str(path)!r}").astype(np.float32)
    return _as_dataarray(grey, spacing, attrs={"source": str(path)})


def read_dicom(path, *, frame: int = 0, spacing=None):
    """Read a 2-D ultrasound DICOM image as grey values with its geometry.

    Parameters
    ----------
    path : str or os.PathLike
    frame : int, default 0
        Frame of a multi-frame (cine) file.
    spacing : (float, float), optional
        Pixel spacing ``(dy, dx)`` in mm for a file that has none (required then); ignored if the
        file has one (a mismatch raises ``ValueError``). ``(1, 1)`` works in pixels.

    Returns
    -------
    xarray.DataArray, shape (H, W), float32
        Grey values scaled by the stored bit depth to [0, 1]; the geometry of
        :meth:`confmap.geometry.ImageGeometry.from_dicom` in ``attrs`` (``spacing_mm``,
        ``origin_lps_mm``, ``direction_lps``, ``slice_thickness_mm``) and the ``y_mm``/``x_mm``
        coordinates: Image Plane module (ImagePositionPatient, ImageOrientationPatient,
        PixelSpacing) if present, else the first region of the Sequence of Ultrasound Regions
        (0018,6011) in cm, else PixelSpacing (0028,0030) alone.

    Raises
    ------
    ValueError
        If the file has no pixel spacing and ``spacing`` is not given, or ``spacing`` contradicts
        the file's.

    Notes
    -----
    RGB and YBR photometric interpretations are converted to RGB, then to grey (ITU-R 601 luma);
    MONOCHROME1 is inverted so that bright means echogenic.
    """
    pydicom = import_optional("pydicom", "reading DICOM", "pydicom")
    path = check_path("path", path, exists=True)
    ds = pydicom.dcmread(path)
    geometry = ImageGeometry.from_dicom(ds)
    if geometry is None:
        if spacing is None:
            raise ValueError(
                f"{str(path)!r} has no pixel spacing: neither the Sequence of Ultrasound Regions (0018,6011) "
                "with physical units in cm nor PixelSpacing (0028,0030); pass `spacing=(dy, dx)` in mm "
                "(spacing=(1, 1) to work in pixels)"
            )
        geometry = ImageGeometry(spacing=spacing)
    elif spacing is not None and not np.allclose(ImageGeometry(spacing=spacing).spacing, geometry.spacing):
        raise ValueError(
            f"`spacing` {tuple(spacing)} contradicts the spacing {geometry.spacing} mm stored in {str(path)!r}"
        )
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
    a = _to_grey(arr, f"{str(path)!r}", scale=float(2**bits - 1))
    if photo == "MONOCHROME1":
        a = 1.0 - a
    attrs = {"source": str(path), "photometric": photo}
    if "SOPInstanceUID" in ds:
        attrs["sop_instance_uid"] = str(ds.SOPInstanceUID)
    return _as_dataarray(np.clip(a, 0, 1).astype(np.float32), geometry, attrs=attrs)


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
        Values as stored (not rescaled), with the slice's geometry in ``attrs`` (``spacing_mm`` of
        the two remaining axes, ``origin_lps_mm``, ``direction_lps``: the file's affine read as ITK
        and 3D Slicer read it, LPS) and ``y_mm``/``x_mm``. Image columns are the lower remaining
        index axis (``i`` when slicing across ``k``).
    """
    path = check_path("path", path, exists=True)
    suffix = file_suffix(path)
    if suffix not in VOLUME_SUFFIXES:
        raise ValueError(f"`path` must end in one of {', '.join(VOLUME_SUFFIXES)}, got {path.name!r}")
    axis = check_int("axis", axis, minimum=0, maximum=2)
    if suffix in (".nii", ".nii.gz") and _has("nibabel"):
        import nibabel as nib

        img = nib.load(str(path))
        data = np.asarray(img.dataobj, dtype=np.float64)
        g3 = ImageGeometry.from_nifti_affine(img.affine)  # (x, y, k) -> LPS, as ITK reads it
        spacing_ijk = np.array([g3.spacing[1], g3.spacing[0], g3.slice_thickness])
        origin, direction = np.asarray(g3.origin), g3.matrix
        data = np.transpose(data)  # (i, j, k[, t]) -> ([t,] k, j, i)
    else:
        sitk = import_optional("SimpleITK", f"reading {suffix} files", "SimpleITK")
        img = sitk.ReadImage(str(path))
        data = sitk.GetArrayFromImage(img).astype(np.float64)
        nd = img.GetDimension()
        spacing_ijk, origin, direction = np.ones(3), np.zeros(3), np.eye(3)
        spacing_ijk[:nd] = img.GetSpacing()[:3]
        origin[:nd] = img.GetOrigin()[:3]
        direction[:nd, :nd] = np.asarray(img.GetDirection()).reshape(nd, nd)[:3, :3]
    while data.ndim > 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim == 3 and data.shape[0] == 1 and index is None:
        data = data[0]
    if data.ndim == 2:
        sl, fixed, idx, rows, cols = data, 2, 0, 1, 0
    elif data.ndim == 3:
        n = data.shape[axis]
        index = n // 2 if index is None else check_int("index", index, minimum=0, maximum=n - 1)
        sl = np.take(data, index, axis=axis)
        # array axis a of (z, y, x) is index axis 2 - a of (i, j, k)
        rows, cols = (2 - a for a in range(3) if a != axis)
        fixed, idx = 2 - axis, index
    else:
        raise ValueError(f"{str(path)!r} holds an array of shape {data.shape}; 2-D or 3-D expected")
    col_dir, row_dir = direction[:, cols], direction[:, rows]
    geometry = ImageGeometry(
        spacing=(spacing_ijk[rows], spacing_ijk[cols]),
        origin=tuple(origin + direction[:, fixed] * spacing_ijk[fixed] * idx),
        direction=tuple(np.column_stack([col_dir, row_dir, np.cross(col_dir, row_dir)]).ravel()),
        slice_thickness=spacing_ijk[fixed],
    )
    attrs = {"source": str(path), "slice_axis": axis}
    return _as_dataarray(sl.astype(np.float32), geometry, attrs=attrs)


def load_image(path, **kwargs):
    """Read an image of any supported kind, chosen by its extension.

    ``.png .jpg .jpeg .tif .tiff .bmp`` -> :func:`read_image`; ``.dcm .dicom`` or no extension ->
    :func:`read_dicom`; ``.nii .nii.gz .nrrd .nhdr`` -> :func:`read_volume`. Keyword arguments go
    to that reader.
    """
    path = check_path("path", path, exists=True)
    suffix = file_suffix(path)
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
def load_folder(root, *, reference_rater=0, size=None, params=None, progress=None):
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
    params : confmap.MapParams or mapping, optional
        Parameters of the cases' confidence maps (default ``MapParams()``; a mapping of its fields
        is converted, :meth:`~confmap.MapParams.coerce`).
    progress : bool, optional
        tqdm progress bar (default: with 10 cases or more).

    Returns
    -------
    xarray.Dataset
        ``bmode``, ``truth`` (the reference rater's mask), ``masks``, ``agreement``,
        ``confidence`` (zeros where a case has no annotation; ``has_annotation`` says which),
        ``sector`` (all True), ``point_x``, ``point_y``, ``point_tier``; coordinates ``image``,
        ``image_id`` (case folder name), ``kind``, ``rater``, ``rater_name``, ``y``, ``x`` and,
        when every case has the same spacing, ``y_mm``, ``x_mm`` and ``attrs["spacing_mm"]`` (and the
        whole geometry, ``origin_lps_mm`` and ``direction_lps``, when every case has the same one and
        none was resampled).

    Raises
    ------
    ValueError
        If the folder has no cases, a case has no image or no masks, raters differ between
        cases, or shapes differ (without ``size``).
    """

    from .construct import MapParams, confidence_map

    params = MapParams.coerce(params)
    root = check_path("root", root, exists=True)
    if not root.is_dir():
        raise ValueError(f"`root` must be a folder of case folders, got the file {str(root)!r}")
    cases = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not cases:
        raise ValueError(f"{str(root)!r} holds no case folders (see confmap.io's folder layout)")
    if size is not None:
        size = check_image_shape("size", size)
    rater_names = None
    images, masks, anns, kinds, spacings, geometries = [], [], [], [], [], []
    for case in progress_bar(cases, progress, desc="cases", unit="case"):
        files = sorted(case.iterdir())
        img_files = [p for p in files if p.is_file() and p.name.lower().split(".")[0] == "image"]
        if not img_files:
            raise ValueError(f"case {case.name!r} has no image file (expected image.<ext>)")
        img = load_image(img_files[0])
        masks_here = (p for p in files if p.is_file() and p.name.lower().startswith("mask_"))
        mask_files = {p.name[len("mask_") :].split(".")[0]: p for p in masks_here}
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
                raise ValueError(f"case {case.name!r}: mask_{nm} has shape {mk.shape}, the image {img.shape}")
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
        geometry, img_v = ImageGeometry.from_attrs(img.attrs), img.values
        if size is not None and img.shape != size:
            img_v, m, ann, sp = _resample_case(img_v, m, ann, sp, size)
            geometry = None  # resampled: only the spacing is kept
        geometries.append(geometry)
        images.append(np.clip(img_v, 0, None).astype(np.float32))
        masks.append(m.astype(np.uint8))
        anns.append(ann)
        spacings.append(None if sp is None else tuple(float(v) for v in sp))
    shapes = {a.shape for a in images}
    if len(shapes) != 1:
        raise ValueError(f"cases have different image shapes {sorted(shapes)}; pass `size=(H, W)` to resample")
    h, w = images[0].shape
    if isinstance(reference_rater, str):  # a rater's name
        ref = rater_names.index(check_choice("reference_rater", reference_rater, rater_names))
    else:
        ref = check_int("reference_rater", reference_rater, minimum=0, maximum=len(rater_names) - 1)
    masks = np.stack(masks)
    conf = np.zeros((len(cases), h, w))
    for i, ann in enumerate(anns):
        if ann is not None:
            conf[i] = np.asarray(confidence_map(ann, params=params).values)
    spacing = spacings[0] if len(set(spacings)) == 1 and spacings[0] is not None else None
    same_place = spacing is not None and len(set(geometries)) == 1 and geometries[0] is not None
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
            # every case in the same place (and none resampled): keep the whole geometry
            **(geometries[0].to_attrs() if same_place else {}),
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
    m2 = np.stack([ndimage.map_coordinates(m.astype(np.uint8), grid, order=0, mode="nearest") > 0 for m in masks])
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
MAP_FORMATS = ("netcdf", "png16", "nifti", "nrrd")
_MAP_SUFFIXES = {".nc": "netcdf", ".png": "png16", ".nii": "nifti", ".nii.gz": "nifti", ".nrrd": "nrrd"}


def save_map(soft, path, *, format: str | None = None, spacing=None, geometry=None):
    """Write a soft map as NetCDF, 16-bit PNG, NIfTI float32 or NRRD float32, atomically.

    Parameters
    ----------
    soft : xarray.DataArray or array_like, shape (H, W)
        The map, e.g. from :func:`confmap.confidence_map`. Must be finite.
    path : str or os.PathLike
        Destination; the folder is created if needed.
    format : {"netcdf", "png16", "nifti", "nrrd"}, optional
        Default from the extension: ``.nc`` -> netcdf, ``.png`` -> png16, ``.nii``/``.nii.gz`` ->
        nifti, ``.nrrd`` -> nrrd.
    spacing : (float, float), optional
        Pixel spacing ``(dy, dx)`` in mm, if neither ``geometry`` nor the map says.
    geometry : confmap.geometry.ImageGeometry or xarray.DataArray, optional
        Where the pixels lie: an ``ImageGeometry``, or the source image as read by this module
        (its shape must equal the map's). Default: the map's own attrs (``spacing_mm``,
        ``origin_lps_mm``, ``direction_lps``), else its ``y_mm``/``x_mm`` spacing. Stored in NetCDF
        (attrs), NIfTI and NRRD; a PNG has no place for it.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        NaN/inf in the map, an unknown format, or a geometry that does not fit the map (see
        :func:`confmap.export.map_geometry`).

    Notes
    -----
    The 16-bit PNG stores ``round(65535 * clip(map, 0, 1))`` (a step of 1.5e-5). NIfTI and NRRD:
    see :func:`confmap.export.write_nifti` and :func:`confmap.export.write_nrrd` -- pixel ``(x, y)``
    lies at ``geometry.index_to_physical([[x, y]])`` in every reader (nibabel, SimpleITK, 3D Slicer);
    a map without any geometry gets 1 mm pixels at the origin. NetCDF keeps the values, coordinates
    and attributes exactly. DICOM-SEG needs its source instance: :func:`confmap.export.write_dicom_seg`.
    """
    path = check_path("path", path)
    values = check_map(soft)
    g = map_geometry(soft, geometry=geometry, spacing=spacing)
    if format is None:
        format = _MAP_SUFFIXES.get(file_suffix(path))
        if format is None:
            raise ValueError(
                f"cannot tell the format from {path.name!r}: use {', '.join(_MAP_SUFFIXES)}, or pass `format`"
            )
    check_choice("format", format, MAP_FORMATS)
    if format == "png16":
        q = np.rint(np.clip(values, 0.0, 1.0) * 65535.0).astype(np.uint16)
        return atomic_write_bytes(path, png_bytes(q))
    if format == "nifti":
        return write_nifti(values, path, geometry=g)
    if format == "nrrd":
        return write_nrrd(values, path, geometry=g)
    import xarray as xr

    da = soft.copy() if isinstance(soft, xr.DataArray) else _as_dataarray(values, g, name="confidence")
    da.attrs = {k: v for k, v in da.attrs.items() if _netcdf_attr_ok(v)}
    if g is not None:
        da.attrs.update(g.to_attrs())
    ds = da.to_dataset(name=da.name or "confidence")
    return save_dataset(ds, path)  # a 2-D map: no compression, as before


def _netcdf_attr_ok(v):
    if isinstance(v, (list, tuple, np.ndarray)):
        arr = np.asarray(v)
        return arr.dtype.kind in "iuf" and arr.ndim == 1
    return isinstance(v, (str, int, float, np.number))


def png_bytes(array) -> bytes:
    """``array`` (uint8 or uint16, (H, W)) encoded as PNG."""
    import imageio.v3 as iio

    buf = _io.BytesIO()
    iio.imwrite(buf, array, extension=".png")
    return buf.getvalue()


def read_map(path):
    """Read a soft map written by :func:`save_map` (NetCDF, 16-bit PNG, NIfTI or NRRD).

    Returns
    -------
    xarray.DataArray, shape (H, W)
        float64 for NetCDF (as written), float32 otherwise; 16-bit PNG values divided by 65535.
        The geometry in ``attrs`` as written (NetCDF, NIfTI, NRRD; see :func:`read_volume`).
    """
    path = check_path("path", path, exists=True)
    suffix = file_suffix(path)
    if suffix == ".nc":
        return next(iter(load_dataset(path).data_vars.values()))
    if suffix in _MAP_SUFFIXES:  # .png, .nii, .nii.gz, .nrrd
        return load_image(path)
    raise ValueError(f"cannot read a map from {path.name!r}: use {', '.join(_MAP_SUFFIXES)}")
