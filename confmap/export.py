"""Soft maps out with their image's geometry: NIfTI, NRRD and DICOM-SEG.

A soft map (values in [0, 1], shape ``(H, W)``) lands on its source image in any viewer only if the
file says where its pixels are. Every writer here takes that from one :class:`confmap.geometry.ImageGeometry`
(spacing, origin, direction in LPS mm), found by :func:`map_geometry`: the ``geometry=`` argument
(an ``ImageGeometry`` or the source image as read by :mod:`confmap.io`), else the map's own attrs
(:meth:`ImageGeometry.to_attrs`), else its ``y_mm``/``x_mm`` coordinates (spacing only).

- :func:`write_nifti` -- float32, the RAS affine as qform and sform; nibabel or SimpleITK.
- :func:`write_nrrd` -- float32, ``space: left-posterior-superior``, gzip; pynrrd or SimpleITK.
- :func:`write_dicom_seg` / :func:`read_dicom_seg` -- DICOM Segmentation, FRACTIONAL with
  fractional type PROBABILITY (highdicom), referencing a source DICOM instance pixel for pixel.
- :func:`write_us_dicom` -- a grey image as a single-frame ultrasound DICOM with its spacing (to try
  the DICOM path on a phantom).

Both NIfTI/NRRD writers put pixel ``(x, y)`` at ``geometry.index_to_physical([[x, y]])`` as read by
SimpleITK's ``TransformIndexToPhysicalPoint((x, y, 0))`` (tests/test_export.py checks every writer
against SimpleITK and nibabel). Every write is atomic: a temporary file in the same folder, then
a rename; a failed write leaves no file and the old one intact.

nibabel, pynrrd, SimpleITK and highdicom are optional (``pip install 'confmap[io]'``), imported only
inside the functions that need them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ._validation import atomic_write, check_choice, check_path, describe, file_suffix, import_optional
from .dataset import pixel_coords
from .geometry import ImageGeometry

__all__ = [
    "check_map",
    "map_geometry",
    "read_dicom_seg",
    "with_geometry",
    "write_dicom_seg",
    "write_nifti",
    "write_nrrd",
    "write_us_dicom",
]

#: SNOMED CT codes of the segment written by :func:`write_dicom_seg` (category, type).
_SEG_CATEGORY = ("49755003", "SCT", "Morphologically Abnormal Structure")
_SEG_TYPE = ("108369006", "SCT", "Neoplasm")


def check_map(soft, *, name: str = "soft", unit: bool = False) -> np.ndarray:
    """The values of a 2-D map as float64, refused if not finite (or, with ``unit``, outside [0, 1]).

    Raises
    ------
    ValueError
        Naming the argument, the number of bad pixels and the first one as ``(x, y)``.
    """
    values = np.asarray(getattr(soft, "values", soft), dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D map (H, W), got shape {values.shape}")
    rules = [("be finite", ~np.isfinite(values), "are NaN or infinite", str)]
    if unit:
        rules.append(("lie in [0, 1] (a probability)", (values < 0) | (values > 1), "outside", repr))
    for rule, bad, what, show in rules:
        if bad.any():
            y, x = np.argwhere(bad)[0]
            raise ValueError(
                f"`{name}` must {rule}: {int(bad.sum())} pixel(s) {what}, the first at (x={x}, y={y}) is "
                f"{show(values[y, x])}"
            )
    return values


def _own_spacing(soft):
    attrs = getattr(soft, "attrs", None) or {}
    if "spacing_mm" in attrs:
        sp = np.ravel(attrs["spacing_mm"])
        return (float(sp[0]), float(sp[-1]))
    coords = getattr(soft, "coords", None)
    if coords is not None and "y_mm" in coords and "x_mm" in coords:
        ys, xs = np.asarray(coords["y_mm"]), np.asarray(coords["x_mm"])
        if ys.size > 1 and xs.size > 1:
            return (float(ys[1] - ys[0]), float(xs[1] - xs[0]))
    return None


def map_geometry(soft, *, geometry=None, spacing=None) -> ImageGeometry | None:
    """The geometry a map is written with; ``None`` if nothing says.

    Parameters
    ----------
    soft : xarray.DataArray or array_like, shape (H, W)
    geometry : ImageGeometry or xarray.DataArray, optional
        The source image's geometry, or the source image itself as read by :mod:`confmap.io`
        (its ``attrs`` hold the geometry; its shape must equal the map's).
    spacing : (float, float), optional
        ``(dy, dx)`` in mm: replaces the spacing (origin and direction from ``soft.attrs`` if there).

    Raises
    ------
    ValueError
        If both ``geometry`` and ``spacing`` are given, the source image has another shape or no
        geometry, or the map's own spacing differs from the geometry's (a map made on another
        image).
    """
    if geometry is not None and spacing is not None:
        raise ValueError("pass `geometry` or `spacing`, not both")
    shape = np.shape(getattr(soft, "values", soft))
    if geometry is not None:
        if not isinstance(geometry, ImageGeometry):
            attrs = getattr(geometry, "attrs", None)
            if attrs is None:
                raise TypeError(
                    f"`geometry` must be an ImageGeometry or an image read by confmap.io, got {describe(geometry)}"
                )
            src_shape = np.shape(getattr(geometry, "values", ()))
            if src_shape != shape:
                raise ValueError(
                    f"the map has shape {shape} but its source image {attrs.get('source', '')!r} has shape "
                    f"{src_shape}: a map must be made on the image it is written with"
                )
            g = ImageGeometry.from_attrs(attrs)
            if g is None:
                raise ValueError(
                    f"the source image {attrs.get('source', '')!r} carries no geometry (no `spacing_mm` "
                    "in its attrs): read it with `spacing=` or pass an ImageGeometry"
                )
            geometry = g
        own = _own_spacing(soft)
        if own is not None and not np.allclose(own, geometry.spacing, rtol=1e-6, atol=0):
            raise ValueError(
                f"the map's spacing {own} mm differs from the geometry's {geometry.spacing} mm: "
                "was it made on another image?"
            )
        return geometry
    attrs = getattr(soft, "attrs", None) or {}
    own = ImageGeometry.from_attrs(attrs)
    if spacing is not None:
        return ImageGeometry(spacing=spacing) if own is None else own.replace(spacing=spacing)
    if own is not None:
        return own
    sp = _own_spacing(soft)
    return None if sp is None else ImageGeometry(spacing=sp)


def with_geometry(soft, geometry, *, name: str | None = None):
    """A copy of ``soft`` as a DataArray carrying ``geometry`` in its attrs and mm coordinates.

    ``geometry`` as in :func:`map_geometry` (an ``ImageGeometry`` or the source image).
    """
    import xarray as xr

    values = check_map(soft)
    g = map_geometry(soft, geometry=geometry)
    coords = pixel_coords(values.shape, g.spacing)
    if isinstance(soft, xr.DataArray):
        da = soft.copy().assign_coords(y_mm=coords["y_mm"], x_mm=coords["x_mm"])
    else:
        da = xr.DataArray(values, dims=("y", "x"), coords=coords)
    da.attrs.update(g.to_attrs())
    if name is not None:
        da.name = name
    return da


def _backend(backend, preferred: str) -> str:
    if backend is None:
        return preferred if importlib.util.find_spec(preferred) is not None else "SimpleITK"
    return check_choice("backend", backend, (preferred, "SimpleITK"))


def _sitk_write(values, g: ImageGeometry, path, suffix: str) -> Path:
    sitk = import_optional("SimpleITK", "writing a map with SimpleITK", "SimpleITK")
    img = sitk.GetImageFromArray(values.astype(np.float32)[None])  # (1, H, W): index (x, y, 0)
    p = g.itk_parameters()
    img.SetSpacing(p["spacing"])
    img.SetOrigin(p["origin"])
    img.SetDirection(p["direction"])
    return atomic_write(path, lambda tmp: sitk.WriteImage(img, tmp, True), suffix=suffix)


def write_nifti(soft, path, *, geometry=None, spacing=None, backend: str | None = None) -> Path:
    """Write a map as NIfTI-1 float32 at its image's place in patient space, atomically.

    Parameters
    ----------
    soft : xarray.DataArray or array_like, shape (H, W)
        Finite values (not clipped).
    path : str or os.PathLike
        ``.nii`` or ``.nii.gz`` (gzip).
    geometry, spacing
        See :func:`map_geometry`. With neither (and nothing in ``soft``), 1 mm pixels, origin 0,
        identity direction.
    backend : {"nibabel", "SimpleITK"}, optional
        Default nibabel if installed. Both write the same geometry.

    Returns
    -------
    pathlib.Path

    Notes
    -----
    Data ``a.T[:, :, None]`` (voxel ``(i, j, k) = (x, y, 0)``); affine
    :meth:`ImageGeometry.nifti_affine` (RAS) in both qform and sform with code 1 ("scanner"), units
    mm. 3D Slicer, ITK and SimpleITK read it in LPS by negating the first two rows, so pixel
    ``(x, y)`` lies at ``geometry.index_to_physical([[x, y]])``.
    """
    path = check_path("path", path)
    values = check_map(soft)
    g = map_geometry(soft, geometry=geometry, spacing=spacing) or ImageGeometry()
    ext = ".nii.gz" if file_suffix(path) == ".nii.gz" else ".nii"
    if _backend(backend, "nibabel") == "nibabel":
        import nibabel as nib

        affine = g.nifti_affine()
        img = nib.Nifti1Image(values.astype(np.float32).T[:, :, None], affine)
        img.set_qform(affine, code=1)
        img.set_sform(affine, code=1)
        img.header.set_xyzt_units("mm")
        img.header["descrip"] = b"confmap soft map"
        return atomic_write(path, lambda tmp: nib.save(img, tmp), suffix=ext)
    return _sitk_write(values, g, path, ext)


def write_nrrd(soft, path, *, geometry=None, spacing=None, backend: str | None = None) -> Path:
    """Write a map as NRRD float32 (gzip) at its image's place in LPS space, atomically.

    Parameters
    ----------
    soft, path, geometry, spacing
        As :func:`write_nifti`; ``path`` ends in ``.nrrd``.
    backend : {"nrrd", "SimpleITK"}, optional
        pynrrd (module ``nrrd``) if installed, else SimpleITK. Both write the same geometry.

    Notes
    -----
    A one-slice 3-D volume, axes ``(x, y, k)``: ``space: left-posterior-superior``,
    ``space directions`` = the columns of ``direction`` times ``(dx, dy, slice_thickness)``,
    ``space origin`` = ``origin`` (the centre of pixel (0, 0), no half-pixel term).
    """
    path = check_path("path", path)
    values = check_map(soft)
    g = map_geometry(soft, geometry=geometry, spacing=spacing) or ImageGeometry()
    if _backend(backend, "nrrd") == "nrrd":
        import nrrd

        dy, dx = g.spacing
        header = {
            "type": "float",
            "dimension": 3,
            "space": "left-posterior-superior",
            "space directions": (g.matrix @ np.diag([dx, dy, g.slice_thickness])).T,
            "space origin": np.asarray(g.origin),
            "kinds": ["domain", "domain", "domain"],
            "encoding": "gzip",
        }
        data = values.astype(np.float32).T[:, :, None]  # (x, y, 1), written in Fortran order
        return atomic_write(path, lambda tmp: nrrd.write(tmp, data, header, index_order="F"), suffix=".nrrd")
    return _sitk_write(values, g, path, ".nrrd")


# ---------------------------------------------------------------------------------------------
# DICOM-SEG
# ---------------------------------------------------------------------------------------------
def _dicom_dataset(source):
    pydicom = import_optional("pydicom", "DICOM-SEG", "pydicom")
    if isinstance(source, pydicom.Dataset):
        return source
    return pydicom.dcmread(check_path("source", source, exists=True))


def write_us_dicom(
    image,
    path,
    *,
    geometry=None,
    spacing=None,
    patient_id: str = "CONFMAP-PHANTOM",
    patient_name: str = "Phantom^Confmap",
    study_instance_uid: str | None = None,
):
    """Write a grey image as a single-frame ultrasound DICOM (8-bit MONOCHROME2), atomically.

    For trying the DICOM path end to end on a phantom image (notebook 05, the tests); not a
    clinical exporter.

    Parameters
    ----------
    image : xarray.DataArray or array_like, shape (H, W)
        Grey values in [0, 1], stored as ``round(255 * value)``.
    path : str or os.PathLike
    geometry, spacing
        As :func:`map_geometry`; a spacing is required (an ultrasound DICOM without one is refused
        by :func:`confmap.io.read_dicom`).
    patient_id, patient_name : str
    study_instance_uid : str, optional
        Default a new UID.

    Returns
    -------
    pathlib.Path

    Notes
    -----
    US Image Storage (1.2.840.10008.5.1.4.1.1.6.1) with the spacing twice: a Sequence of Ultrasound
    Regions (0018,6011) region covering the image, PhysicalDeltaX/Y in cm (what scanners write),
    and PixelSpacing (0028,0030) (what SimpleITK/GDCM and so 3D Slicer read: they ignore the region
    sequence and would show the image in 1 mm pixels). If the geometry has an origin or direction
    other than 0 / identity, the Image Plane module (ImagePositionPatient, ImageOrientationPatient)
    and a FrameOfReferenceUID are written too.
    """
    pydicom = import_optional("pydicom", "writing DICOM", "pydicom")
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    path = check_path("path", path)
    values = check_map(image, name="image", unit=True)
    g = map_geometry(image, geometry=geometry, spacing=spacing)
    if g is None:
        raise ValueError("`image` has no spacing: pass `spacing=(dy, dx)` in mm or `geometry=`")
    h, w = values.shape
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_instance_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality, ds.Manufacturer = "US", "confmap"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = patient_name, patient_id, "", ""
    ds.StudyID, ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "1", "20260101", "120000", ""
    ds.ReferringPhysicianName, ds.SeriesNumber, ds.InstanceNumber = "", 1, 1
    ds.Rows, ds.Columns = h, w
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.rint(values * 255.0).astype(np.uint8).tobytes()
    dy, dx = g.spacing
    region = pydicom.Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = w - 1, h - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX, region.PhysicalDeltaY = dx / 10.0, dy / 10.0
    ds.SequenceOfUltrasoundRegions = [region]
    ds.PixelSpacing = [f"{dy:.10g}", f"{dx:.10g}"]
    if not g.is_identity:
        m = g.matrix
        ds.FrameOfReferenceUID = generate_uid()
        ds.ImagePositionPatient = [f"{v:.10g}" for v in g.origin]
        ds.ImageOrientationPatient = [f"{v:.10g}" for v in (*m[:, 0], *m[:, 1])]
        ds.SliceThickness = f"{g.slice_thickness:.10g}"
    return atomic_write(path, lambda tmp: ds.save_as(tmp, enforce_file_format=True), suffix=".dcm")


def write_dicom_seg(
    soft,
    path,
    *,
    source,
    label: str = "tumour confidence",
    max_fractional_value: int = 255,
    series_number: int = 300,
    series_description: str = "confmap soft map",
    software_version: str | None = None,
) -> Path:
    """Write a soft map as a DICOM Segmentation (FRACTIONAL, PROBABILITY) of a source instance.

    Parameters
    ----------
    soft : xarray.DataArray or array_like, shape (Rows, Columns)
        Probabilities: finite and in [0, 1] (checked here: highdicom lets NaN through and wraps
        values above 1 in uint8).
    path : str or os.PathLike
        Destination ``.dcm``.
    source : str, os.PathLike or pydicom.Dataset
        The single-frame DICOM image the map was made on (e.g. the B-mode ultrasound frame); the
        SEG references it (same study, patient, pixel grid).
    label : str, default "tumour confidence"
        Segment label. Category "Morphologically Abnormal Structure" (SCT 49755003), type
        "Neoplasm" (SCT 108369006), algorithm type SEMIAUTOMATIC (the points are an expert's).
    max_fractional_value : int, default 255
        Stored values are ``round(p * max_fractional_value)`` in uint8: an error of at most
        ``0.5 / max_fractional_value`` (1/510 with the default).
    series_number : int, default 300
    series_description : str, default "confmap soft map"
    software_version : str, optional
        Default confmap's version.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If the map is not finite or not in [0, 1], its shape differs from the source's
        ``(Rows, Columns)``, or the source has several frames.

    Notes
    -----
    An ultrasound image usually has no Frame of Reference; highdicom then references the source
    instance frame by frame (no plane positions), which works for a single-frame source only
    (highdicom issue 284): pick one frame of a cine first. Such a source usually has a
    PixelSpacing but no SliceThickness; highdicom then writes a Pixel Measures sequence that its
    own reader refuses, so that sequence is left out (the SEG is placed by its source instance).
    OHIF does not display FRACTIONAL SEGs (OHIF issue 1346); for display write NIfTI or NRRD too.
    """
    hd = import_optional("highdicom", "writing DICOM-SEG", "highdicom")
    from pydicom.uid import generate_uid

    path = check_path("path", path)
    values = check_map(soft, unit=True)
    ds = _dicom_dataset(source)
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames != 1:
        raise ValueError(
            f"`source` has NumberOfFrames = {frames}; DICOM-SEG of an ultrasound image needs a single-frame "
            "source instance (save the frame the map was made on as its own instance)"
        )
    expected = (int(ds.Rows), int(ds.Columns))
    if values.shape != expected:
        raise ValueError(
            f"the map has shape {values.shape} but the source DICOM {getattr(ds, 'SOPInstanceUID', '')} has "
            f"(Rows, Columns) = {expected}"
        )
    mfv = int(max_fractional_value)
    if not 1 <= mfv <= 255:
        raise ValueError(f"`max_fractional_value` must be in 1..255 (uint8 storage), got {max_fractional_value!r}")
    if software_version is None:
        from . import __version__ as software_version
    codes = importlib.import_module("pydicom.sr.codedict").codes
    desc = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=str(label),
        segmented_property_category=hd.sr.CodedConcept(*_SEG_CATEGORY),
        segmented_property_type=hd.sr.CodedConcept(*_SEG_TYPE),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="confmap", version=str(software_version), family=codes.cid7162.ManualProcessing
        ),
    )
    seg = hd.seg.Segmentation(
        source_images=[ds],
        pixel_array=values.astype(np.float32)[None],
        segmentation_type=hd.seg.SegmentationTypeValues.FRACTIONAL,
        segment_descriptions=[desc],
        series_instance_uid=generate_uid(),
        series_number=int(series_number),
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="confmap",
        manufacturer_model_name="confmap",
        software_versions=str(software_version),
        device_serial_number="0",
        fractional_type=hd.seg.SegmentationFractionalTypeValues.PROBABILITY,
        max_fractional_value=mfv,
        series_description=str(series_description),
    )
    shared = seg.SharedFunctionalGroupsSequence[0]
    measures = shared.get("PixelMeasuresSequence")
    if measures is not None and "SliceThickness" not in measures[0] and "FrameOfReferenceUID" not in ds:
        # highdicom copies PixelSpacing without a SliceThickness, then cannot read its own file back;
        # without a Frame of Reference the SEG is placed by its source instance anyway.
        del shared.PixelMeasuresSequence
    return atomic_write(path, lambda tmp: seg.save_as(tmp), suffix=".dcm")


def read_dicom_seg(path, *, source=None, segment: int = 1):
    """Read one segment of a FRACTIONAL DICOM-SEG (e.g. from :func:`write_dicom_seg`) as a map.

    Parameters
    ----------
    path : str or os.PathLike
    source : str, os.PathLike or pydicom.Dataset, optional
        The referenced source image; if given, its geometry
        (:meth:`ImageGeometry.from_dicom`) goes into the map's attrs and ``y_mm``/``x_mm``.
    segment : int, default 1

    Returns
    -------
    xarray.DataArray, shape (Rows, Columns), float32
        Probabilities in [0, 1] (stored value / MaximumFractionalValue); ``attrs`` name the
        referenced SOP instance (``source_sop_instance_uid``) and the segment label.
    """
    hd = import_optional("highdicom", "reading DICOM-SEG", "highdicom")
    import xarray as xr

    path = check_path("path", path, exists=True)
    seg = hd.seg.segread(path)
    if str(seg.SegmentationType) != "FRACTIONAL":
        raise ValueError(f"{str(path)!r} is a {seg.SegmentationType} segmentation; FRACTIONAL expected")
    refs = [r.ReferencedSOPInstanceUID for s in seg.ReferencedSeriesSequence for r in s.ReferencedInstanceSequence]
    uid = refs[0]
    ds = None
    if source is not None:
        ds = _dicom_dataset(source)
        uid = str(ds.SOPInstanceUID)
        if uid not in refs:
            raise ValueError(
                f"`source` (SOPInstanceUID {uid}) is not referenced by {str(path)!r} (it references {refs})"
            )
    px = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[uid], segment_numbers=[int(segment)], combine_segments=False
    )
    values = np.asarray(px[0, :, :, 0], dtype=np.float32)
    h, w = values.shape
    label = str(seg.SegmentSequence[int(segment) - 1].SegmentLabel)
    da = xr.DataArray(
        values,
        dims=("y", "x"),
        coords={"y": np.arange(h), "x": np.arange(w)},
        name="confidence",
        attrs={"source": str(path), "source_sop_instance_uid": uid, "segment_label": label},
    )
    g = None if ds is None else ImageGeometry.from_dicom(ds)
    return da if g is None else with_geometry(da, g)
