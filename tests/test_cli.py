"""The confmap command line, run as a subprocess (``python -m confmap``) like a user would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from confmap.cli import EXIT_CONFLICT, EXIT_OK, EXIT_PROBLEMS, EXIT_SCHEDULER, EXIT_USAGE, MapSettings, build_parser

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("phantom", "maps", "evaluate", "convert", "validate")


def run(*args, cwd=None):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "confmap", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    r = run("phantom", "-n", 3, "-o", root / "demo", "--size", 64, 80, "-q")
    assert r.returncode == EXIT_OK, r.stderr
    return root


def test_help_of_every_command_has_examples():
    r = run("--help")
    assert r.returncode == 0 and all(c in r.stdout for c in COMMANDS) and "Exit codes" in r.stdout
    parser = build_parser()
    for c in COMMANDS:
        text = parser._subparsers._group_actions[0].choices[c].format_help()
        assert "examples:" in text and f"confmap {c}" in text


def test_entry_point_is_declared():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    module, func = meta["project"]["scripts"]["confmap"].split(":")
    import importlib

    assert callable(getattr(importlib.import_module(module), func))
    assert "dask" in " ".join(meta["project"]["optional-dependencies"]["batch"])
    assert "batch" in meta["project"]["optional-dependencies"]["all"][0]


def test_phantom_maps_evaluate_validate(demo, tmp_path):
    cases = sorted(p.name for p in (demo / "demo").iterdir() if p.is_dir())
    assert cases == ["case_0000", "case_0001", "case_0002"]
    r = run("maps", demo / "demo", "-o", tmp_path / "maps", "--lam", 60, "-q")
    assert r.returncode == EXIT_OK, r.stderr
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == [f"{c}.nc" for c in cases] + ["confmap-maps.json"]
    r = run("maps", demo / "demo", "-o", tmp_path / "maps", "--lam", 60)
    assert r.returncode == EXIT_OK and "0 map(s) written, 3 already done" in r.stdout
    r = run("evaluate", tmp_path / "maps", demo / "demo", "-o", tmp_path / "report", "-q", "--thresholds", 0.5, 1)
    assert r.returncode == EXIT_OK, r.stderr
    summary = (tmp_path / "report" / "summary.csv").read_text()
    assert "brier_mean" in summary and "auc_mean_union_0.5" in summary
    assert (tmp_path / "report" / "roc.png").exists()
    r = run("validate", demo / "demo", tmp_path / "maps")
    assert r.returncode == EXIT_OK and "6 file(s) checked, 0 with problems" in r.stdout


def test_other_parameters_refused_unless_overwrite(demo, tmp_path):
    assert run("maps", demo / "demo", "-o", tmp_path / "m", "-q", "--lam", 50).returncode == EXIT_OK
    r = run("maps", demo / "demo", "-o", tmp_path / "m", "-q", "--lam", 70)
    assert r.returncode == EXIT_CONFLICT and "lam: 50 there, 70 now" in r.stderr and "--overwrite" in r.stderr
    r = run("maps", demo / "demo", "-o", tmp_path / "m", "-q", "--lam", 70, "--overwrite")
    assert r.returncode == EXIT_OK
    assert json.loads((tmp_path / "m" / "confmap-maps.json").read_text())["params"]["lam"] == 70


def test_settings_file_and_flags(tmp_path):
    (tmp_path / "p.toml").write_text("[maps]\nlam = 60\nbetas = [1.0, 0.4, 0.1]\nbandwidth = 'scott'\n")
    s = MapSettings.from_file(tmp_path / "p.toml", lam=80, kernel=None)
    assert s.to_kwargs() == {
        "lam": 80,
        "betas": [1.0, 0.4, 0.1],
        "bandwidth": "scott",
        "kernel": "full",
        "region": "convex",
        "alpha": None,
        "sink_radius": None,
    }
    from confmap import MapParams

    assert set(s.to_kwargs()) <= set(MapParams.fields())  # 1:1 onto MapParams fields
    assert s.to_params() == MapParams(lam=80, betas=(1.0, 0.4, 0.1), bandwidth="scott")
    (tmp_path / "bad.json").write_text('{"lam": 60, "gamma": 2}')
    r = run("maps", tmp_path, "-o", tmp_path / "o", "--settings", tmp_path / "bad.json")
    assert r.returncode == EXIT_USAGE and "unknown map parameter(s) ['gamma']" in r.stderr
    r = run("maps", tmp_path, "-o", tmp_path / "o", "--betas", 1, 0.5, -1)
    assert r.returncode == EXIT_USAGE and "betas[2]" in r.stderr


def test_map_flags_are_the_fields_of_map_params():
    from confmap import MapParams
    from confmap.cli.settings import FIELDS, settings_from_args

    assert FIELDS == tuple(f for f in MapParams.fields() if f != "ripple_warn")
    parser = build_parser()
    maps_help = parser._subparsers._group_actions[0].choices["maps"].format_help()
    for name in FIELDS:
        assert "--" + name.replace("_", "-") in maps_help
    argv = ["maps", "in", "-o", "out", "--kernel", "isotropic", "--sink-radius", "3", "--bandwidth", "silverman"]
    argv += ["--region", "alpha", "--alpha", "2.5", "--betas", "1", "0.25", "0"]
    s = settings_from_args(parser.parse_args(argv))
    assert s.to_params() == MapParams(
        kernel="isotropic", sink_radius=3.0, bandwidth="silverman", region="alpha", alpha=2.5, betas=(1, 0.25, 0)
    )
    assert s.kernel == "isotropic" and s == MapSettings(**s.to_kwargs())
    for bad, field in (
        (["--kernel", "gaussian"], "kernel"),
        (["--lam", "0.5"], "lam"),
        (["--bandwidth", "-1"], "bandwidth"),
    ):
        with pytest.raises((ValueError, TypeError), match=field):
            settings_from_args(parser.parse_args(["maps", "in", "-o", "out", *bad]))
    with pytest.raises(TypeError, match="ripple_warn"):
        MapSettings(ripple_warn=0.1)


def test_bad_inputs_skip_with_report_or_fail_with_strict(demo, tmp_path):
    src = tmp_path / "anns"
    src.mkdir()
    for c in ("case_0000", "case_0001"):
        (src / f"{c}.json").write_bytes((demo / "demo" / c / "annotation.json").read_bytes())
    (src / "truncated.json").write_text('{"format": "confmap.annotation", "sha')
    (src / "napari.csv").write_text("index,axis-0,axis-1\n0,1.0,2.0\n")
    r = run("maps", src, "-o", tmp_path / "out", "-q")
    assert r.returncode == EXIT_PROBLEMS
    assert "truncated.json" in r.stderr and "mixed formats" in r.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.nc")) == ["case_0000.nc", "case_0001.nc"]
    r = run("maps", src, "-o", tmp_path / "strict", "-q", "--strict")
    assert r.returncode == EXIT_PROBLEMS and "nothing computed" in r.stderr and not (tmp_path / "strict").exists()


def test_validate_reports_problems(tmp_path):
    import xarray as xr

    xr.DataArray(np.array([[0.0, np.nan], [0.5, 1.0]]), dims=("y", "x")).to_dataset(name="c").to_netcdf(
        tmp_path / "nan.nc"
    )
    (tmp_path / "cut.json").write_text('{"format": "confmap.annotation"')
    from confmap import Annotation

    Annotation((32, 32), high=[(1, 1), (2, 2)]).save(tmp_path / "two.json")
    r = run("validate", tmp_path, "-v")
    assert r.returncode == EXIT_PROBLEMS
    assert "nan.nc: 1 NaN or infinite value(s)" in r.stderr
    assert "cut.json" in r.stderr and "corrupt or truncated" in r.stderr
    assert "tier high has no region" in r.stderr
    assert "3 file(s) checked, 3 with problems" in r.stdout


def test_convert_core_format(demo, tmp_path):
    from confmap import Annotation

    src = demo / "demo" / "case_0001" / "annotation.json"
    r = run("convert", src, tmp_path / "a.json", "--to", "confmap", "-q")
    assert r.returncode == EXIT_OK and Annotation.load(tmp_path / "a.json") == Annotation.load(src)
    r = run("convert", demo / "demo", tmp_path / "all", "--to", "confmap", "-q")
    assert r.returncode == EXIT_OK and len(list((tmp_path / "all").glob("case_*.json"))) == 3
    r = run("convert", src, tmp_path / "b.xml", "--to", "no-such-format")
    assert r.returncode == EXIT_USAGE and "cannot write 'no-such-format'" in r.stderr


def test_unreachable_scheduler_exit_code(demo, tmp_path):
    r = run("maps", demo / "demo", "-o", tmp_path / "o", "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", 1)
    assert r.returncode == EXIT_SCHEDULER
    assert "cannot reach the dask scheduler at 'tcp://127.0.0.1:9'" in r.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_workers_flag_runs_a_local_cluster(demo, tmp_path):
    r = run("maps", demo / "demo", "-o", tmp_path / "par", "--workers", 2, "-q", "--lam", 60)
    assert r.returncode == EXIT_OK, r.stderr
    r2 = run("maps", demo / "demo", "-o", tmp_path / "ser", "-q", "--lam", 60)
    assert r2.returncode == EXIT_OK
    from confmap.io import read_map

    for c in ("case_0000", "case_0001", "case_0002"):
        np.testing.assert_array_equal(
            read_map(tmp_path / "par" / f"{c}.nc").values, read_map(tmp_path / "ser" / f"{c}.nc").values
        )


def test_usage_errors_exit_2():
    assert run("maps").returncode == EXIT_USAGE
    assert run("maps", "x", "-o", "y", "--workers", 2, "--scheduler", "tcp://a:1").returncode == EXIT_USAGE


def test_convert_between_tool_formats_and_map_from_them(demo, tmp_path):
    from confmap import Annotation
    from confmap.io import read_map

    r = run("convert", demo / "demo", tmp_path / "all.xml", "--to", "cvat", "-q")
    assert r.returncode == EXIT_OK, r.stderr
    r = run("convert", tmp_path / "all.xml", tmp_path / "back", "--to", "confmap", "-q")
    assert r.returncode == EXIT_OK, r.stderr
    for c in ("case_0000", "case_0001", "case_0002"):
        a, b = Annotation.load(demo / "demo" / c / "annotation.json"), Annotation.load(tmp_path / "back" / f"{c}.json")
        for t in ("high", "medium", "low"):
            np.testing.assert_array_equal(a.points(t), b.points(t))  # CVAT round trip is exact
    r = run("maps", tmp_path / "all.xml", "-o", tmp_path / "m", "-q", "--lam", 60)  # one case per image
    assert r.returncode == EXIT_OK, r.stderr
    r2 = run("maps", demo / "demo", "-o", tmp_path / "m2", "-q", "--lam", 60, "--format", "nrrd")
    assert r2.returncode == EXIT_OK, r2.stderr
    for c in ("case_0000", "case_0001", "case_0002"):
        np.testing.assert_allclose(
            read_map(tmp_path / "m" / f"{c}.nc").values, read_map(tmp_path / "m2" / f"{c}.nrrd").values, atol=1e-7
        )  # NRRD stores float32
