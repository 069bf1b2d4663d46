"""Tests of confmap.io: every reader and writer round-trips tiny files the tests write themselves."""

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

import confmap
from confmap import io as cio


def _image(h=12, w=17, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w)).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Plain images
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp"])
def test_read_image_lossless_roundtrip(tmp_path, ext):
    import imageio.v3 as iio

    img = _image()
    iio.imwrite(tmp_path / f"a{ext}", img)
    da = cio.read_image(tmp_path / f"a{ext}")
    assert da.dims == ("y", "x") and da.shape == img.shape and da.dtype == np.float32
    np.testing.assert_allclose(da.values, img / 255.0, atol=1e-7)
    assert "spacing_mm" not in da.attrs


def test_read_image_jpeg_close(tmp_path):
    import imageio.v3 as iio

    img = np.tile(np.linspace(0, 255, 32).astype(np.uint8), (16, 1))
    iio.imwrite(tmp_path / "a.jpg", img, quality=95)
    da = cio.load_image(tmp_path / "a.jpg")
    assert da.shape == img.shape
    assert np.abs(da.values - img / 255.0).max() < 0.05


def test_read_image_colour_to_luma_and_16_bit(tmp_path):
    import imageio.v3 as iio

    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 255  # pure red -> 0.299
    iio.imwrite(tmp_path / "c.png", rgb)
    np.testing.assert_allclose(cio.read_image(tmp_path / "c.png").values, 0.299, atol=1e-6)
    u16 = np.array([[0, 65535], [32768, 1000]], np.uint16)
    iio.imwrite(tmp_path / "d.png", u16)
    np.testing.assert_allclose(cio.read_image(tmp_path / "d.png").values, u16 / 65535.0, atol=1e-7)


def test_read_image_spacing_option(tmp_path):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "a.png", _image())
    da = cio.read_image(tmp_path / "a.png", spacing=(0.2, 0.3))
    assert da.attrs["spacing_mm"] == [0.2, 0.3]
    np.testing.assert_allclose(da.x_mm.values[:3], [0, 0.3, 0.6])


def test_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        cio.read_image(tmp_path / "missing.png")
    with pytest.raises(TypeError, match="`path` must be a path"):
        cio.read_image(3)
    (tmp_path / "a.xyz").write_bytes(b"0")
    with pytest.raises(ValueError, match="extension must be one of"):
        cio.load_image(tmp_path / "a.xyz")


# ---------------------------------------------------------------------------------------------
# DICOM
# ---------------------------------------------------------------------------------------------
def _write_dicom(path, pixels, *, photometric="MONOCHROME2", region=(0.0125, 0.02), pixel_spacing=None, frames=1):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"  # US image storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    arr = np.asarray(pixels)
    ds.Rows, ds.Columns = arr.shape[-3:-1] if arr.ndim == 3 + (frames > 1) else arr.shape[-2:]
    if photometric == "RGB":
        ds.Rows, ds.Columns = arr.shape[-3], arr.shape[-2]
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = 0
    else:
        ds.Rows, ds.Columns = arr.shape[-2], arr.shape[-1]
        ds.SamplesPerPixel = 1
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if region is not None:
        reg = pydicom.Dataset()
        reg.RegionSpatialFormat = 1
        reg.PhysicalUnitsXDirection = 3
        reg.PhysicalUnitsYDirection = 3
        reg.PhysicalDeltaX = region[1]
        reg.PhysicalDeltaY = region[0]
        ds.SequenceOfUltrasoundRegions = Sequence([reg])
    if pixel_spacing is not None:
        ds.PixelSpacing = list(pixel_spacing)
    ds.PixelData = arr.astype(np.uint8).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


def test_dicom_grey_and_region_spacing(tmp_path):
    img = _image(10, 14)
    _write_dicom(tmp_path / "a.dcm", img)
    da = cio.load_image(tmp_path / "a.dcm")
    np.testing.assert_allclose(da.values, img / 255.0, atol=1e-7)
    # 0.0125 cm rows, 0.02 cm columns -> 0.125 mm, 0.2 mm
    np.testing.assert_allclose(da.attrs["spacing_mm"], [0.125, 0.2])
    np.testing.assert_allclose(da.y_mm.values[1], 0.125)


def test_dicom_rgb_monochrome1_pixelspacing_and_frames(tmp_path):
    rgb = np.zeros((6, 7, 3), np.uint8)
    rgb[..., 1] = 200
    _write_dicom(tmp_path / "rgb.dcm", rgb, photometric="RGB", region=None, pixel_spacing=(0.3, 0.4))
    da = cio.read_dicom(tmp_path / "rgb.dcm")
    np.testing.assert_allclose(da.values, 0.587 * 200 / 255, atol=1e-6)
    assert da.attrs["spacing_mm"] == [0.3, 0.4]

    img = _image(5, 6)
    _write_dicom(tmp_path / "m1.dcm", img, photometric="MONOCHROME1", region=None)
    with pytest.raises(ValueError, match=r"m1.dcm' has no pixel spacing.*PixelSpacing \(0028,0030\).*`spacing="):
        cio.read_dicom(tmp_path / "m1.dcm")
    da = cio.read_dicom(tmp_path / "m1.dcm", spacing=(1, 1))
    np.testing.assert_allclose(da.values, 1 - img / 255.0, atol=1e-6)
    assert da.attrs["spacing_mm"] == [1.0, 1.0]
    with pytest.raises(ValueError, match="contradicts the spacing"):
        cio.read_dicom(tmp_path / "rgb.dcm", spacing=(1, 1))

    cine = np.stack([_image(5, 6, seed=s) for s in range(3)])
    _write_dicom(tmp_path / "cine.dcm", cine, frames=3)
    np.testing.assert_allclose(cio.read_dicom(tmp_path / "cine.dcm", frame=2).values, cine[2] / 255.0, atol=1e-7)
    with pytest.raises(ValueError, match="`frame` must be <= 2"):
        cio.read_dicom(tmp_path / "cine.dcm", frame=3)


# ---------------------------------------------------------------------------------------------
# NIfTI / NRRD volumes
# ---------------------------------------------------------------------------------------------
def test_nifti_volume_slices(tmp_path):
    vol = np.random.default_rng(1).random((5, 6, 7)).astype(np.float32)  # (z, y, x)
    img = nib.Nifti1Image(vol.T, np.diag([0.5, 0.6, 0.7, 1.0]))  # i=x, j=y, k=z
    nib.save(img, tmp_path / "v.nii.gz")
    mid = cio.read_volume(tmp_path / "v.nii.gz")
    np.testing.assert_allclose(mid.values, vol[2])
    np.testing.assert_allclose(mid.attrs["spacing_mm"], [0.6, 0.5])
    sl = cio.load_image(tmp_path / "v.nii.gz", axis=2, index=4)
    np.testing.assert_allclose(sl.values, vol[:, :, 4])
    np.testing.assert_allclose(sl.attrs["spacing_mm"], [0.7, 0.6])
    with pytest.raises(ValueError, match="`index` must be <= 4"):
        cio.read_volume(tmp_path / "v.nii.gz", index=5)


def test_nrrd_volume_slice(tmp_path):
    vol = np.random.default_rng(2).random((4, 5, 6)).astype(np.float32)
    img = sitk.GetImageFromArray(vol)
    img.SetSpacing((0.2, 0.3, 1.5))
    sitk.WriteImage(img, str(tmp_path / "v.nrrd"))
    sl = cio.read_volume(tmp_path / "v.nrrd", axis=1, index=3)
    np.testing.assert_allclose(sl.values, vol[:, 3, :])
    np.testing.assert_allclose(sl.attrs["spacing_mm"], [1.5, 0.2])


# ---------------------------------------------------------------------------------------------
# Soft maps out
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def soft_map():
    ann = confmap.Annotation(
        (40, 50),
        high=[(20, 15), (30, 16), (25, 25)],
        medium=[(12, 8), (40, 9), (41, 32), (10, 31)],
        spacing=(0.25, 0.3),
    )
    return confmap.confidence_map(ann, ripple_warn=None)


def test_save_map_netcdf_exact(tmp_path, soft_map):
    p = cio.save_map(soft_map, tmp_path / "sub" / "m.nc")
    back = cio.read_map(p)
    np.testing.assert_array_equal(back.values, soft_map.values)
    np.testing.assert_allclose(back.attrs["spacing_mm"], [0.25, 0.3])
    np.testing.assert_allclose(back.x_mm.values, soft_map.x_mm.values)
    assert not [f for f in (tmp_path / "sub").iterdir() if f.name != "m.nc"]  # no temp left


def test_save_map_png16(tmp_path, soft_map):
    import imageio.v3 as iio

    p = cio.save_map(soft_map, tmp_path / "m.png")
    raw = iio.imread(p)
    assert raw.dtype == np.uint16 and raw.max() == 65535
    back = cio.read_map(p)
    assert np.abs(back.values - soft_map.values).max() <= 0.5 / 65535 + 1e-9


@pytest.mark.parametrize("name", ["m.nii", "m.nii.gz"])
def test_save_map_nifti_float32(tmp_path, soft_map, name):
    p = cio.save_map(soft_map, tmp_path / name)
    back = cio.read_map(p)
    np.testing.assert_array_equal(back.values, soft_map.values.astype(np.float32))
    np.testing.assert_allclose(back.attrs["spacing_mm"], [0.25, 0.3])
    # an independent reader (SimpleITK) agrees on orientation
    arr = sitk.GetArrayFromImage(sitk.ReadImage(str(p)))
    np.testing.assert_array_equal(arr.reshape(soft_map.shape), soft_map.values.astype(np.float32))


def test_save_map_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot tell the format"):
        cio.save_map(np.zeros((3, 3)), tmp_path / "m.xyz")
    with pytest.raises(ValueError, match="must be finite"):
        cio.save_map(np.full((3, 3), np.nan), tmp_path / "m.png")
    with pytest.raises(ValueError, match="2-D map"):
        cio.save_map(np.zeros(3), tmp_path / "m.png")
    with pytest.raises(ValueError, match="`format` must be one of"):
        cio.save_map(np.zeros((3, 3)), tmp_path / "m.png", format="jpeg")


def test_save_map_atomic_keeps_old_file_on_failure(tmp_path, monkeypatch):
    p = cio.save_map(np.full((4, 4), 0.5), tmp_path / "m.nii")
    before = p.read_bytes()

    def boom(img, fname):
        with open(fname, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(nib, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        cio.save_map(np.zeros((4, 4)), p)
    assert p.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["m.nii"]


# ---------------------------------------------------------------------------------------------
# Multi-rater folders
# ---------------------------------------------------------------------------------------------
def _write_case(root, name, *, h=20, w=24, raters=("a", "b", "c"), ann=True, kind=None, seed=0):
    import imageio.v3 as iio

    case = root / name
    case.mkdir(parents=True)
    iio.imwrite(case / "image.png", _image(h, w, seed))
    yy, xx = np.mgrid[:h, :w]
    masks = []
    for k, r in enumerate(raters):
        m = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (4 + k) ** 2).astype(np.uint8) * 255
        iio.imwrite(case / f"mask_{r}.png", m)
        masks.append(m > 0)
    if ann:
        confmap.Annotation(
            (h, w),
            high=[(10, 8), (14, 9), (12, 13)],
            medium=[(6, 4), (18, 5), (19, 16), (5, 15)],
            spacing=(0.3, 0.3),
        ).save(case / "annotation.json")
    if kind:
        (case / "kind.txt").write_text(kind + "\n")
    return np.stack(masks)


def test_load_folder_matches_phantom_contract(tmp_path):
    from confmap import phantom

    m0 = _write_case(tmp_path, "case_001", kind="diffuse")
    _write_case(tmp_path, "case_002", ann=False, seed=1)
    ds = cio.load_folder(tmp_path, reference_rater="b")
    ref = phantom.make_dataset(1, seed=0, size=(24, 24), progress=False)
    for name in (
        "bmode",
        "truth",
        "masks",
        "agreement",
        "confidence",
        "sector",
        "point_x",
        "point_y",
        "point_tier",
    ):
        assert name in ds, name
        assert ds[name].dims == ref[name].dims, name
    assert ds.masks.dtype == np.uint8 and ds.sector.dtype == bool
    assert ds.attrs["reference_rater"] == 1
    assert list(ds.rater_name.values) == ["a", "b", "c"]
    assert list(ds.kind.values) == ["diffuse", "unknown"]
    assert list(ds.image_id.values) == ["case_001", "case_002"]
    np.testing.assert_array_equal(ds.masks.values[0], m0)
    np.testing.assert_allclose(ds.agreement.values[0], m0.mean(0))
    np.testing.assert_array_equal(ds.truth.values[0], m0[1])
    assert list(ds.has_annotation.values) == [True, False]
    assert ds.confidence.values[0].max() == 1.0 and not ds.confidence.values[1].any()
    anns = phantom.annotations_from_dataset(ds)
    assert anns[0].counts() == {"high": 3, "medium": 4, "low": 0, "sinks": 0}
    assert anns[1].n_points == 0
    assert anns[0].annotator == ""  # a real folder: not the phantom's virtual annotator
    np.testing.assert_allclose(ds.confidence.values[0], confmap.confidence_map(anns[0]).values)


def test_load_folder_resamples_to_size(tmp_path):
    _write_case(tmp_path, "c1", h=20, w=24)
    _write_case(tmp_path, "c2", h=30, w=36, ann=False)
    with pytest.raises(ValueError, match="pass `size="):
        cio.load_folder(tmp_path)
    ds = cio.load_folder(tmp_path, size=(40, 48))
    assert ds.bmode.shape == (2, 40, 48) and ds.masks.shape == (2, 3, 40, 48)
    # The first annotation point (10, 8) maps to ((10 + .5) * 2 - .5, (8 + .5) * 2 - .5).
    assert (ds.point_x.values[0, 0], ds.point_y.values[0, 0]) == (20.5, 16.5)


def test_load_folder_map_params(tmp_path):
    _write_case(tmp_path, "case_001")
    p = confmap.MapParams(lam=30, bandwidth=0.2)
    ds = cio.load_folder(tmp_path, params=p)
    ann = confmap.Annotation.load(tmp_path / "case_001" / "annotation.json")
    np.testing.assert_array_equal(ds.confidence.values[0], confmap.confidence_map(ann, params=p).values)
    same = cio.load_folder(tmp_path, params={"lam": 30, "bandwidth": 0.2})
    np.testing.assert_array_equal(same.confidence.values, ds.confidence.values)
    with pytest.raises(TypeError, match="`params`"):
        cio.load_folder(tmp_path, params="lam=30")


def test_load_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="holds no case folders"):
        cio.load_folder(tmp_path)
    _write_case(tmp_path, "c1")
    with pytest.raises(ValueError, match="`reference_rater` must be one of 'a', 'b', 'c', got 'zz'"):
        cio.load_folder(tmp_path, reference_rater="zz")
    with pytest.raises(ValueError, match="`reference_rater` must be <= 2"):
        cio.load_folder(tmp_path, reference_rater=3)
    _write_case(tmp_path, "c2", raters=("a", "b"))
    with pytest.raises(ValueError, match="same raters"):
        cio.load_folder(tmp_path)
    (tmp_path / "other" / "c0").mkdir(parents=True)
    with pytest.raises(ValueError, match="'c0' has no image file"):
        cio.load_folder(tmp_path / "other")


def test_load_folder_keeps_a_common_dicom_geometry(tmp_path):
    from confmap import export
    from confmap.geometry import ImageGeometry

    g = ImageGeometry(spacing=(0.3, 0.3), origin=(5.0, -2.0, 1.0), direction=(0, 1, 0, 1, 0, 0, 0, 0, -1))
    for i, name in enumerate(("case_001", "case_002")):
        _write_case(tmp_path, name, seed=i)
        (tmp_path / name / "image.png").unlink()
        export.write_us_dicom(_image(20, 24, i) / 255.0, tmp_path / name / "image.dcm", geometry=g)
    ds = cio.load_folder(tmp_path)
    assert ImageGeometry.from_attrs(ds.attrs) == g
    resampled = cio.load_folder(tmp_path, size=(10, 12))
    assert resampled.attrs["spacing_mm"] == pytest.approx([0.6, 0.6]) and "origin_lps_mm" not in resampled.attrs
