"""Round-trip errors of the point-annotation formats and of the soft-map writers (README, Interoperability).

Runs the two measurement scripts of ``docs/`` and checks the bounds the tests assert
(``tests/test_formats.py``, ``tests/test_export.py``):

- ``docs/measure_interop.py``: for each format, the largest error in pixels over random annotations
  (300 per format; 30 in the quick mode; seed 0) as written and read back by confmap (claim: 0,
  exact) and after the tool rewrote the file (claim: below 1e-9 px; CVAT, whose exporter writes
  ``%.2f``, at most 0.005 px);
- ``docs/measure_geometry.py``: the largest distance in mm between where a NIfTI or NRRD file puts a
  pixel and where the source geometry says it is (SimpleITK and the file's header; claim: below
  1e-4 mm), the same for a map written next to a DICOM source, and the DICOM-SEG round trip (claim:
  at most 1/510).

These are accuracies, not times: deterministic, the same on every machine with the same libraries.

    python -m benchmarks --only interop
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

REQUIRES = ("SimpleITK", "nibabel", "nrrd", "highdicom", "defusedxml")
DOCS = Path(__file__).resolve().parents[1] / "docs"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"confmap_docs_{name}", DOCS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def benchmark(*, quick: bool) -> list[dict]:
    """The figures (see the module docstring)."""
    from benchmarks.report import claim, figure

    n = 30 if quick else 300
    figs = []
    for fmt, (written, edited) in _script("measure_interop").measure(n).items():
        key = fmt.replace(" (offset 0.5)", "_offset05")
        figs.append(
            figure(
                f"interop.{key}.as_written",
                written,
                "px",
                label=f"{fmt}: written and read back by confmap, largest error over {n} annotations",
                claim=claim("<=", 0.0, text="exact"),
                annotations=n,
            )
        )
        bound = 0.005 if fmt == "cvat" else 1e-9
        figs.append(
            figure(
                f"interop.{key}.tool_edited",
                edited,
                "px",
                label=f"{fmt}: after the tool rewrote the file, largest error over {n} annotations",
                claim=claim("<=", bound),
                annotations=n,
            )
        )
    geo = _script("measure_geometry").measure()
    for kind in ("NIfTI", "NRRD"):
        worst = max(max(v) for (w, _), v in geo["files"].items() if w.startswith(kind))
        figs.append(
            figure(
                f"interop.geometry.{kind.lower()}",
                worst,
                "mm",
                label=f"{kind} (both writers, three geometries): largest distance from the source geometry",
                claim=claim("<", 1e-4),
            )
        )
    for (gname, name), err in geo["dicom"].items():
        kind = "nifti" if name.endswith(".nii.gz") else "nrrd"
        figs.append(
            figure(
                f"interop.geometry.dicom.{gname.replace(' ', '_')}.{kind}",
                err,
                "mm",
                label=f"map saved as {name} next to a DICOM source ({gname}), both read by SimpleITK",
                claim=claim("<", 1e-4),
            )
        )
    figs.append(
        figure(
            "interop.dicom_seg.max_error",
            geo["seg"],
            "",
            label="DICOM-SEG FRACTIONAL round trip (highdicom segread), largest error of the map",
            claim=claim("<=", 1 / 510),
        )
    )
    return figs
