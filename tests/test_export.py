"""Soft maps out: every writer puts each pixel where SimpleITK, nibabel, pynrrd and highdicom read it.

The oracle for geometry is SimpleITK's ``TransformIndexToPhysicalPoint`` on the file we wrote (and
on the source image, read by SimpleITK itself), plus nibabel's affine and pynrrd's header.
"""

import nibabel as nib
import nrrd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

import confmap
from confmap import export
from confmap import io as cio
from confmap.geometry import ImageGeometry


def _rotation(angle_deg):
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(a / 2), -np.sin(a / 2)], [0, np.sin(a / 2), np.cos(a / 2)]])
    return rx @ rz


GEOMETRIES = {
    "spacing only": ImageGeometry(spacing=(0.25, 0.3)),
    "oblique": ImageGeometry(spacing=(0.3, 0.2), origin=(-12.0, 40.5, 7.25), direction=tuple(_rotation(30).ravel())),
    "flipped": ImageGeometry(spacing=(1.0, 2.0), origin=(1, 2, 3), direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1)),
}
WRITERS = {
    "nifti/nibabel": (export.write_nifti, "nibabel", "m.nii.gz"),
    "nifti/SimpleITK": (export.write_nifti, "SimpleITK", "m.nii"),
    "nrrd/pynrrd": (export.write_nrrd, "nrrd", "m.nrrd"),
    "nrrd/SimpleITK": (export.write_nrrd, "SimpleITK", "m.nrrd"),
}
PIXELS = [(0, 0), (49, 0), (0, 39), (49, 39), (17, 23)]  # (x, y) in a 40 x 50 map


def _map(h=40, w=50, seed=0):
    return np.random.default_rng(seed).random((h, w))


def _sitk_points(img, pixels, k=0):
    return np.array([img.TransformIndexToPhysicalPoint((int(x), int(y), int(k))) for x, y in pixels])


def _third_party_points(path, pixels):
    """LPS mm of pixels (x, y) from the file's own header, read by nibabel or pynrrd."""
    idx = np.array([[x, y, 0] for x, y in pixels], float)
    if str(path).endswith((".nii", ".nii.gz")):
        a = nib.load(path).affine
        ras = idx @ a[:3, :3].T + a[:3, 3]
        return ras * [-1, -1, 1]  # RAS -> LPS
    _, h = nrrd.read(str(path), index_order="F")
    assert h["space"] == "left-posterior-superior"
    return idx @ np.asarray(h["space directions"]) + np.asarray(h["space origin"])


@pytest.mark.parametrize("gname", list(GEOMETRIES))
@pytest.mark.parametrize("wname", list(WRITERS))
def test_writers_put_each_pixel_where_simpleitk_and_the_format_library_read_it(tmp_path, gname, wname):
    g = GEOMETRIES[gname]
    write, backend, name = WRITERS[wname]
    m = _map()
    p = write(m, tmp_path / name, geometry=g, backend=backend)
    img = sitk.ReadImage(str(p))
    assert img.GetSize() == (50, 40, 1)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img)[0], m.astype(np.float32))
    expected = g.index_to_physical(PIXELS)
    np.testing.assert_allclose(_sitk_points(img, PIXELS), expected, atol=1e-4)
    np.testing.assert_allclose(_third_party_points(p, PIXELS), expected, atol=1e-4)
    back = cio.read_map(p)  # our reader: same values, same geometry
    np.testing.assert_array_equal(back.values, m.astype(np.float32))
    np.testing.assert_allclose(ImageGeometry.from_attrs(back.attrs).index_to_physical(PIXELS), expected, atol=1e-4)
    assert [f.name for f in tmp_path.iterdir()] == [name]  # no temporary file left


def test_save_map_nifti_is_not_mirrored_any_more(tmp_path):
    """The old bug: affine diag(+dx, +dy) put pixel (x, y) at LPS (-x dx, -y dy) in ITK/Slicer."""
    ann = confmap.Annotation((40, 50), high=[(20, 15), (30, 16), (25, 25)], spacing=(0.25, 0.3))
    m = confmap.confidence_map(ann, ripple_warn=None)
    for name in ("a.nii.gz", "b.nrrd"):
        img = sitk.ReadImage(str(cio.save_map(m, tmp_path / name)))
        assert img.GetDirection() == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
        assert img.TransformIndexToPhysicalPoint((10, 4, 0)) == pytest.approx((3.0, 1.0, 0.0))
    a = nib.load(tmp_path / "a.nii.gz").affine
    np.testing.assert_allclose(a, np.diag([-0.3, -0.25, 1.0, 1.0]))
    assert nib.load(tmp_path / "a.nii.gz").header.get_qform(coded=True)[1] == 1


def _us_source(tmp_path, geometry, name="us.dcm"):
    return export.write_us_dicom(_map(seed=1), tmp_path / name, geometry=geometry)


@pytest.mark.parametrize("gname", ["spacing only", "oblique"])
def test_map_written_next_to_a_dicom_overlays_it_in_simpleitk(tmp_path, gname):
    src_path = _us_source(tmp_path, GEOMETRIES[gname])
    src = cio.read_dicom(src_path)
    src_itk = sitk.ReadImage(str(src_path))  # GDCM: ImagePositionPatient / Orientation / PixelSpacing
    m = _map()
    for name in ("m.nii.gz", "m.nrrd"):
        out = sitk.ReadImage(str(cio.save_map(m, tmp_path / name, geometry=src)))
        np.testing.assert_allclose(_sitk_points(out, PIXELS), _sitk_points(src_itk, PIXELS), atol=1e-4)
        # resampling the map onto the DICOM's grid is the identity
        res = sitk.Resample(out, src_itk, sitk.Transform(), sitk.sitkNearestNeighbor, -1.0)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(res)[0], m.astype(np.float32))
    np.testing.assert_allclose(
        ImageGeometry.from_attrs(src.attrs).index_to_physical(PIXELS), _sitk_points(src_itk, PIXELS), atol=1e-6
    )


@pytest.mark.parametrize("reader", ["nibabel", "SimpleITK"])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_map_of_a_nifti_slice_overlays_the_source_volume(tmp_path, monkeypatch, axis, reader):
    if reader == "SimpleITK":
        monkeypatch.setattr(cio, "_has", lambda module: module != "nibabel")
    vol = np.random.default_rng(3).random((6, 7, 8)).astype(np.float32)  # (z, y, x)
    g3 = GEOMETRIES["oblique"]
    a = g3.nifti_affine() @ np.diag([1.0, 1.0, 1.5, 1.0])  # slices 1.5 mm apart
    src = nib.Nifti1Image(vol.T, a)
    src.set_qform(a, code=1)
    src.set_sform(a, code=1)
    nib.save(src, tmp_path / "v.nii.gz")
    src_itk = sitk.ReadImage(str(tmp_path / "v.nii.gz"))
    sl = cio.read_volume(tmp_path / "v.nii.gz", axis=axis, index=2)
    np.testing.assert_array_equal(sl.values, np.take(vol, 2, axis=axis))
    h, w = sl.shape
    pixels = [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1), (w // 2, h // 3)]

    def src_index(x, y):  # (x, y) of the slice -> (i, j, k) of the volume
        return {0: (x, y, 2), 1: (x, 2, y), 2: (2, x, y)}[axis]

    expected = np.array([src_itk.TransformIndexToPhysicalPoint(src_index(x, y)) for x, y in pixels])
    out = sitk.ReadImage(str(cio.save_map(np.clip(sl.values, 0, 1), tmp_path / "m.nii.gz", geometry=sl)))
    np.testing.assert_allclose(_sitk_points(out, pixels), expected, atol=1e-4)


def test_netcdf_carries_the_geometry(tmp_path):
    g = GEOMETRIES["oblique"]
    p = cio.save_map(_map(), tmp_path / "m.nc", geometry=g)
    assert ImageGeometry.from_attrs(cio.read_map(p).attrs) == g
    da = export.with_geometry(_map(), g)
    assert ImageGeometry.from_attrs(da.attrs) == g and da.x_mm.values[2] == pytest.approx(0.4)


def test_geometry_errors(tmp_path):
    src = export.with_geometry(np.zeros((40, 50)), GEOMETRIES["oblique"])
    with pytest.raises(ValueError, match=r"map has shape \(30, 50\) but its source image .* \(40, 50\)"):
        cio.save_map(np.zeros((30, 50)), tmp_path / "m.nii", geometry=src)
    bare = export.with_geometry(np.zeros((4, 4)), ImageGeometry()).drop_vars(["y_mm", "x_mm"])
    bare.attrs = {"source": "a.png"}
    with pytest.raises(ValueError, match="'a.png' carries no geometry"):
        cio.save_map(np.zeros((4, 4)), tmp_path / "m.nii", geometry=bare)
    spaced = export.with_geometry(np.zeros((40, 50)), GEOMETRIES["spacing only"])
    with pytest.raises(ValueError, match="spacing .* differs from the geometry's"):
        cio.save_map(spaced, tmp_path / "m.nrrd", geometry=GEOMETRIES["oblique"])
    with pytest.raises(ValueError, match="not both"):
        cio.save_map(spaced, tmp_path / "m.nrrd", geometry=GEOMETRIES["oblique"], spacing=(1, 1))
    with pytest.raises(TypeError, match="`geometry` must be an ImageGeometry"):
        cio.save_map(spaced, tmp_path / "m.nrrd", geometry=(0.3, 0.2))
    bad = np.zeros((4, 4))
    bad[2, 3] = np.inf
    with pytest.raises(ValueError, match=r"1 pixel\(s\) are NaN or infinite, the first at \(x=3, y=2\)"):
        cio.save_map(bad, tmp_path / "m.nrrd")
    with pytest.raises(ValueError, match="`backend` must be one of"):
        export.write_nrrd(np.zeros((4, 4)), tmp_path / "m.nrrd", backend="vtk")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("wname", list(WRITERS))
def test_failed_write_leaves_nothing(tmp_path, monkeypatch, wname):
    write, backend, name = WRITERS[wname]
    target = {"nibabel": (nib, "save"), "nrrd": (nrrd, "write"), "SimpleITK": (sitk, "WriteImage")}[backend]

    def boom(*args, **kwargs):
        with open(args[1] if backend == "nibabel" else args[0] if backend == "nrrd" else args[1], "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(*target, boom)
    with pytest.raises(OSError, match="disk full"):
        write(_map(), tmp_path / name, backend=backend)
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# DICOM-SEG
# ---------------------------------------------------------------------------------------------
def test_dicom_seg_fractional_round_trip(tmp_path):
    src_path = _us_source(tmp_path, GEOMETRIES["spacing only"])
    m = _map()
    m[0, :3] = [0.0, 1.0, 0.5 / 255]
    p = export.write_dicom_seg(m, tmp_path / "seg.dcm", source=src_path)
    raw = pydicom.dcmread(p)
    src = pydicom.dcmread(src_path)
    assert raw.SegmentationType == "FRACTIONAL" and raw.SegmentationFractionalType == "PROBABILITY"
    assert raw.MaximumFractionalValue == 255 and raw.StudyInstanceUID == src.StudyInstanceUID
    assert raw.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    stored = raw.pixel_array.astype(float) / 255  # pydicom alone, not highdicom
    np.testing.assert_array_equal(raw.pixel_array, np.rint(m * 255))
    back = export.read_dicom_seg(p, source=src_path)  # highdicom.seg.segread
    err = np.abs(back.values - m).max()
    assert err <= 1 / 510 + 1e-7
    np.testing.assert_allclose(back.values, stored, atol=1e-7)
    assert back.attrs["spacing_mm"] == [0.25, 0.3] and back.attrs["source_sop_instance_uid"] == src.SOPInstanceUID
    assert export.read_dicom_seg(p).attrs["segment_label"] == "tumour confidence"


def test_dicom_seg_with_a_frame_of_reference(tmp_path):
    src_path = _us_source(tmp_path, GEOMETRIES["oblique"])
    assert "FrameOfReferenceUID" in pydicom.dcmread(src_path)
    m = _map()
    back = export.read_dicom_seg(export.write_dicom_seg(m, tmp_path / "seg.dcm", source=src_path), source=src_path)
    assert np.abs(back.values - m).max() <= 1 / 510 + 1e-7
    assert ImageGeometry.from_attrs(back.attrs) == ImageGeometry.from_dicom(pydicom.dcmread(src_path))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda m: m.__setitem__((3, 4), np.nan), r"must be finite: 1 pixel\(s\) .* \(x=4, y=3\)"),
        (lambda m: m.__setitem__((1, 2), 256 / 255), r"must lie in \[0, 1\].*\(x=2, y=1\)"),
        (lambda m: m.__setitem__((0, 0), -1e-9), r"must lie in \[0, 1\]"),
    ],
)
def test_dicom_seg_refuses_non_probabilities(tmp_path, change, match):
    src_path = _us_source(tmp_path, GEOMETRIES["spacing only"])
    m = _map()
    change(m)
    with pytest.raises(ValueError, match=match):
        export.write_dicom_seg(m, tmp_path / "seg.dcm", source=src_path)
    assert not (tmp_path / "seg.dcm").exists()


def test_dicom_seg_errors(tmp_path):
    src_path = _us_source(tmp_path, GEOMETRIES["spacing only"])
    with pytest.raises(ValueError, match=r"map has shape \(40, 49\) but the source DICOM .* = \(40, 50\)"):
        export.write_dicom_seg(_map()[:, :49], tmp_path / "seg.dcm", source=src_path)
    ds = pydicom.dcmread(src_path)
    ds.NumberOfFrames = 3
    with pytest.raises(ValueError, match="NumberOfFrames = 3.*single-frame"):
        export.write_dicom_seg(_map(), tmp_path / "seg.dcm", source=ds)
    with pytest.raises(ValueError, match="`max_fractional_value` must be in 1..255"):
        export.write_dicom_seg(_map(), tmp_path / "seg.dcm", source=src_path, max_fractional_value=256)
    with pytest.raises(FileNotFoundError, match="no such file"):
        export.write_dicom_seg(_map(), tmp_path / "seg.dcm", source=tmp_path / "missing.dcm")
    assert not (tmp_path / "seg.dcm").exists()
    p = export.write_dicom_seg(_map(), tmp_path / "seg.dcm", source=src_path)
    other = _us_source(tmp_path, GEOMETRIES["spacing only"], name="other.dcm")
    with pytest.raises(ValueError, match="is not referenced by"):
        export.read_dicom_seg(p, source=other)


def test_write_us_dicom(tmp_path):
    img = _map(seed=2)
    p = export.write_us_dicom(img, tmp_path / "us.dcm", spacing=(0.2, 0.3))
    ds = pydicom.dcmread(p)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.6.1" and "ImagePositionPatient" not in ds
    reg = ds.SequenceOfUltrasoundRegions[0]
    assert (reg.PhysicalDeltaY, reg.PhysicalDeltaX, reg.PhysicalUnitsXDirection) == (0.02, 0.03, 3)
    da = cio.read_dicom(p)
    np.testing.assert_allclose(da.values, np.rint(img * 255) / 255, atol=1e-7)
    assert ImageGeometry.from_attrs(da.attrs) == ImageGeometry(spacing=(0.2, 0.3))
    assert sitk.ReadImage(str(p)).GetSpacing() == pytest.approx((0.3, 0.2, 1.0))
    with pytest.raises(ValueError, match="has no spacing"):
        export.write_us_dicom(img, tmp_path / "x.dcm")
