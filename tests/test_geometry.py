"""ImageGeometry: index <-> LPS mm, NIfTI affine, SimpleITK parameters, attrs round trip."""

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from confmap.geometry import ImageGeometry


def _rotation(angle_deg):
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    # rotate about the S axis, then tilt about L: a general orthonormal direction
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(a / 2), -np.sin(a / 2)], [0, np.sin(a / 2), np.cos(a / 2)]])
    return rx @ rz


GEOMETRIES = [
    ImageGeometry(spacing=(0.5, 0.25)),
    ImageGeometry(spacing=(0.3, 0.2), origin=(-12.0, 40.5, 7.25), direction=tuple(_rotation(30).ravel())),
    ImageGeometry(spacing=(1.0, 2.0), origin=(1, 2, 3), direction=(-1, 0, 0, 0, -1, 0, 0, 0, 1), slice_thickness=3),
]


@pytest.mark.parametrize("g", GEOMETRIES)
def test_index_to_physical_matches_simpleitk(g):
    img = sitk.Image(7, 5, 1, sitk.sitkFloat32)  # W=7, H=5, one slice
    p = g.itk_parameters()
    img.SetSpacing(p["spacing"])
    img.SetOrigin(p["origin"])
    img.SetDirection(p["direction"])
    pts = np.array([[0, 0], [6, 4], [3, 1], [2.5, 3.25]])
    ours = g.index_to_physical(pts)
    theirs = np.array([img.TransformContinuousIndexToPhysicalPoint((float(x), float(y), 0.0)) for x, y in pts])
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    np.testing.assert_allclose(g.physical_to_index(ours), pts, atol=1e-12)
    assert ImageGeometry.from_itk(img) == g


@pytest.mark.parametrize("g", GEOMETRIES)
def test_nifti_affine_reads_back_in_simpleitk_at_the_same_place(g, tmp_path):
    a = np.arange(35, dtype=np.float32).reshape(5, 7)  # (H, W)
    path = tmp_path / "m.nii.gz"
    nii = nib.Nifti1Image(a.T[:, :, None], g.nifti_affine())
    nii.set_qform(g.nifti_affine(), code="scanner")
    nii.set_sform(g.nifti_affine(), code="scanner")
    nib.save(nii, path)
    img = sitk.ReadImage(str(path))
    back = ImageGeometry.from_itk(img)
    np.testing.assert_allclose(back.spacing, g.spacing, rtol=1e-6)
    np.testing.assert_allclose(back.origin, g.origin, atol=1e-5)
    np.testing.assert_allclose(back.direction, g.direction, atol=1e-5)
    # the same pixel, same value, same physical point
    arr = sitk.GetArrayFromImage(img)[0]
    np.testing.assert_array_equal(arr, a)
    for x, y in [(0, 0), (6, 4), (3, 2)]:
        np.testing.assert_allclose(
            img.TransformIndexToPhysicalPoint((x, y, 0)), g.index_to_physical([[x, y]])[0], atol=1e-4
        )
    g2 = ImageGeometry.from_nifti_affine(nib.load(path).affine)
    np.testing.assert_allclose(g2.index_to_physical([[3, 2]]), g.index_to_physical([[3, 2]]), atol=1e-4)


@pytest.mark.parametrize("g", GEOMETRIES)
def test_attrs_round_trip(g):
    assert ImageGeometry.from_attrs(g.to_attrs()) == g
    assert ImageGeometry.from_attrs({}) is None


def test_offplane_position_is_refused():
    g = ImageGeometry(spacing=(0.5, 0.5), slice_thickness=2.0)
    with pytest.raises(ValueError, match="off the image plane"):
        g.physical_to_index([[1.0, 1.0, 1.5]])
    np.testing.assert_allclose(g.physical_to_index([[1.0, 1.0, 0.9]]), [[2.0, 2.0]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"spacing": (0, 1)}, "spacing"),
        ({"spacing": "ab"}, "spacing"),
        ({"origin": (1, 2)}, "origin"),
        ({"direction": (1, 0, 0, 0, 2, 0, 0, 0, 1)}, "orthonormal"),
        ({"direction": (1, 0)}, "3x3"),
        ({"slice_thickness": -1}, "slice_thickness"),
    ],
)
def test_bad_geometry(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ImageGeometry(**kwargs)


def _dicom(**fields):
    import pydicom

    ds = pydicom.Dataset()
    for k, v in fields.items():
        setattr(ds, k, v)
    return ds


def _region(dy_cm, dx_cm, units=3):
    import pydicom

    reg = pydicom.Dataset()
    reg.PhysicalUnitsXDirection = reg.PhysicalUnitsYDirection = units
    reg.PhysicalDeltaX, reg.PhysicalDeltaY = dx_cm, dy_cm
    return reg


def test_from_dicom_order_of_preference():
    c, s = np.cos(0.3), np.sin(0.3)
    plane = {
        "PixelSpacing": [0.2, 0.3],
        "ImagePositionPatient": [1.0, 2.0, 3.0],
        "ImageOrientationPatient": [c, s, 0.0, -s, c, 0.0],
        "SliceThickness": 2.5,
    }
    g = ImageGeometry.from_dicom(_dicom(**plane, SequenceOfUltrasoundRegions=[_region(0.05, 0.05)]))
    # the DICOM standard's equation: P = IPP + x dx F_row + y dy F_col
    x, y = 7, 4
    expected = np.array([1, 2, 3]) + x * 0.3 * np.array([c, s, 0]) + y * 0.2 * np.array([-s, c, 0])
    np.testing.assert_allclose(g.index_to_physical([[x, y]])[0], expected, atol=1e-12)
    assert g.slice_thickness == 2.5 and g.spacing == (0.2, 0.3)
    # regions (cm) before a bare PixelSpacing; non-spatial regions are skipped
    regions = [_region(0.1, 0.1, units=4), _region(0.0125, 0.02)]
    g = ImageGeometry.from_dicom(_dicom(PixelSpacing=[0.5, 0.5], SequenceOfUltrasoundRegions=regions))
    assert g == ImageGeometry(spacing=(0.125, 0.2))
    assert ImageGeometry.from_dicom(_dicom(PixelSpacing=[0.5, 0.4])) == ImageGeometry(spacing=(0.5, 0.4))
    assert ImageGeometry.from_dicom(_dicom(Rows=4)) is None


def test_from_dicom_refuses_a_skewed_orientation():
    with pytest.raises(ValueError, match=r"ImageOrientationPatient \(0020,0037\) must be two orthogonal"):
        ImageGeometry.from_dicom(
            _dicom(PixelSpacing=[1, 1], ImagePositionPatient=[0, 0, 0], ImageOrientationPatient=[1, 0, 0, 0.5, 1, 0])
        )
