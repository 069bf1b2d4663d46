"""confmap.batch: maps, evaluation, phantom folders and CV units as independent (dask) tasks.

The dask tests share one LocalCluster (loopback, 2 worker processes, 1 thread each). Oracles:
confmap.confidence_map called directly, confmap.metrics.evaluate on the stacked arrays, and the
serial confmap.learn.cross_validate.
"""

import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from confmap import Annotation, RippleWarning, confidence_map
from confmap._validation import atomic_write
from confmap.batch import (
    BadInput,
    FolderConflict,
    SchedulerUnreachable,
    evaluate_folder,
    find_annotations,
    make_maps,
    make_phantom_folder,
    map_file,
    maps_to_zarr,
    open_client,
)
from confmap.io import read_map

PARAMS = {"lam": 40}


def _ann(shape, seed, name):
    rng = np.random.default_rng(seed)
    h, w = shape
    c = np.array([w / 2, h / 2])
    ang = np.linspace(0, 2 * np.pi, 7)[:-1] + rng.uniform(0, 0.3)
    ring = lambda r: c + np.column_stack([np.cos(ang), np.sin(ang)]) * r  # noqa: E731
    return Annotation(
        shape, high=ring(min(h, w) * 0.15), medium=ring(min(h, w) * 0.25), low=ring(min(h, w) * 0.35), image_id=name
    )


@pytest.fixture
def ann_dir(tmp_path):
    """Three annotations of different image sizes (mixed sizes are normal in ultrasound)."""
    d = tmp_path / "anns"
    for i, shape in enumerate([(48, 64), (80, 60), (64, 64)]):
        _ann(shape, i, f"c{i}").save(d / f"c{i}.json")
    return d


@pytest.fixture(scope="module")
def client():
    with open_client(workers=2) as c:
        yield c


def _check_maps(out, names, params=PARAMS):
    for name in names:
        ann = Annotation.load(Path(out).parent / "anns" / f"{name}.json")
        got = read_map(Path(out) / f"{name}.nc")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RippleWarning)  # a property of small test images
            want = confidence_map(ann, **params)
        np.testing.assert_array_equal(got.values, want.values)


def test_import_confmap_stays_light():
    code = "import sys, confmap; print(sorted(m for m in ('dask', 'distributed', 'zarr', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_make_maps_mixed_sizes_equal_confidence_map(ann_dir, tmp_path):
    rep = make_maps([ann_dir], tmp_path / "out", params=PARAMS, progress=False)
    assert rep.ok and sorted(s["name"] for s in rep.done) == ["c0", "c1", "c2"]
    assert sorted(tuple(s["shape"]) for s in rep.done) == [(48, 64), (64, 64), (80, 60)]
    _check_maps(tmp_path / "out", ["c0", "c1", "c2"])
    manifest = json.loads((tmp_path / "out" / "confmap-maps.json").read_text())
    assert manifest["params"]["lam"] == 40 and manifest["params"]["betas"] == [1.0, 0.5, 0.1]


def test_make_maps_resumes_and_refuses_other_parameters(ann_dir, tmp_path):
    out = tmp_path / "out"
    make_maps([ann_dir], out, params=PARAMS, progress=False)
    mtime = (out / "c0.nc").stat().st_mtime_ns
    _ann((48, 64), 99, "c1").save(ann_dir / "c1.json")  # c1 changed: redone
    rep = make_maps([ann_dir], out, params=dict(PARAMS), progress=False)
    assert sorted(rep.skipped) == ["c0", "c2"] and [s["name"] for s in rep.done] == ["c1"]
    assert (out / "c0.nc").stat().st_mtime_ns == mtime
    _check_maps(out, ["c1"])
    with pytest.raises(FolderConflict, match="lam: 40 there, 50 now"):
        make_maps([ann_dir], out, params={"lam": 50}, progress=False)
    rep = make_maps([ann_dir], out, params={"lam": 50}, overwrite=True, progress=False)
    assert len(rep.done) == 3
    _check_maps(out, ["c0", "c1", "c2"], {"lam": 50})
    # a folder of maps without a manifest: parameters unknown
    (out / "confmap-maps.json").unlink()
    with pytest.raises(FolderConflict, match="no confmap-maps.json"):
        make_maps([ann_dir], out, params=PARAMS, progress=False)


def test_bad_inputs_skipped_and_reported_or_refused_with_strict(ann_dir, tmp_path):
    (ann_dir / "broken.json").write_text('{"format": "confmap.annotation", "shape": [4')
    (ann_dir / "other.json").write_text('{"hello": 1}')
    (ann_dir / "points.csv").write_text("index,axis-0,axis-1\n0,1,2\n")  # a second format in the folder
    cases, problems = find_annotations([ann_dir, tmp_path / "missing"])
    assert sorted(cases) == ["c0", "c1", "c2"]
    reasons = "\n".join(map(str, problems))
    for needle in ("broken.json", "corrupt or truncated", "other.json", "mixed formats", "points.csv", "missing"):
        assert needle in reasons
    rep = make_maps([ann_dir], tmp_path / "out", params=PARAMS, progress=False)
    assert len(rep.done) == 3 and not rep.ok and len(rep.problems) == 3
    with pytest.raises(BadInput, match="nothing computed") as info:
        make_maps([ann_dir], tmp_path / "strict", params=PARAMS, strict=True, progress=False)
    assert len(info.value.problems) == 3 and not (tmp_path / "strict").exists()


def test_map_file_returns_errors_instead_of_raising(tmp_path):
    bad = tmp_path / "bad.json"
    d = _ann((32, 32), 0, "x").to_dict()
    d["points"]["high"] = [[100.0, 100.0]]  # outside the image
    bad.write_text(json.dumps(d))
    res = map_file(
        {"name": "bad", "source": str(bad), "target": str(tmp_path / "bad.nc"), "params": {}, "format": "netcdf"}
    )
    assert not res["ok"] and "outside the image" in res["error"] and not (tmp_path / "bad.nc").exists()


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(SchedulerUnreachable, match="cannot reach the dask scheduler at 'tcp://127.0.0.1:9'"):
        with open_client(scheduler="tcp://127.0.0.1:9", timeout=1):
            pass


def test_maps_on_local_cluster_equal_serial(ann_dir, tmp_path, client):
    rep = make_maps([ann_dir], tmp_path / "out", params=PARAMS, client=client, progress=False)
    assert rep.ok and len(rep.done) == 3
    _check_maps(tmp_path / "out", ["c0", "c1", "c2"])


def _square_and_scheduler(x):
    import dask

    return x * x, dask.config.get("scheduler", None)


@pytest.mark.parametrize("batch", [None, 1, 3, 50])
def test_run_tasks_in_chunks_yields_every_item_once_with_its_index(client, batch):
    from confmap.batch import run_tasks

    got = dict(run_tasks(_square_and_scheduler, range(10), client=client, batch=batch, progress=False))
    assert sorted(got) == list(range(10))
    assert all(got[i] == (i * i, "sync") for i in got)  # tasks run dask's sync scheduler inside


def test_local_workers_keep_thread_caps_without_the_malloc_trim_threshold(client):
    """open_client's workers: BLAS/OpenMP capped at 1 thread, no MALLOC_TRIM_THRESHOLD_ (it slowed
    the learning units by re-faulting freed memory); the caller's dask config is left as it was."""
    import os

    import dask

    env = client.run(lambda: {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")})
    assert len(env) == 2
    for worker_env in env.values():
        assert worker_env == {"OMP_NUM_THREADS": "1", "MALLOC_TRIM_THRESHOLD_": None}
    assert "MALLOC_TRIM_THRESHOLD_" in dask.config.get("distributed.nanny.pre-spawn-environ")


def test_default_batch():
    from confmap.batch.engine import MAX_BATCH, default_batch

    assert default_batch(1000, 2) == MAX_BATCH == 16
    assert default_batch(40, 2) == 3  # at least 8 tasks per worker
    assert default_batch(3, 2) == default_batch(0, 0) == 1


def _die_once(job):
    """Kill this worker process in the middle of writing case c1, the first time only."""
    marker = Path(job["target"]).parent.parent / "killed-once"
    if job["name"] == "c1" and not marker.exists():
        marker.write_text("x")

        def write(tmp):
            Path(tmp).write_bytes(b"half a NetCDF file")
            os.kill(os.getpid(), signal.SIGKILL)

        atomic_write(job["target"], write, suffix=".nc")
    return map_file(job)


def test_killed_worker_task_is_retried_and_nothing_half_written_remains(ann_dir, tmp_path, client):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        out = tmp_path / "out"
        rep = make_maps([ann_dir], out, params=PARAMS, client=client, task=_die_once, progress=False)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert (tmp_path / "killed-once").exists()  # the worker did die
    assert rep.ok and sorted(s["name"] for s in rep.done) == ["c0", "c1", "c2"]
    assert [p.name.startswith(".c1.nc.") for p in rep.removed_temporaries] == [True]
    assert sorted(p.name for p in out.iterdir()) == ["c0.nc", "c1.nc", "c2.nc", "confmap-maps.json"]
    _check_maps(out, ["c0", "c1", "c2"])


@pytest.fixture(scope="module")
def phantom_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantom")
    make_phantom_folder(4, root / "demo", seed=3, size=(64, 64), progress=False)
    make_maps([root / "demo"], root / "maps", params=PARAMS, progress=False)
    return root


def test_phantom_folder_is_make_dataset_in_load_folder_layout(phantom_folder):
    from confmap.io import load_folder
    from confmap.phantom import make_dataset

    ds = load_folder(phantom_folder / "demo")
    ref = make_dataset(4, seed=3, size=(64, 64), progress=False)
    np.testing.assert_array_equal(ds.masks.values, ref.masks.values)
    np.testing.assert_array_equal(ds.bmode.values, np.rint(np.clip(ref.bmode.values, 0, 1) * 255) / 255)
    assert list(ds.kind.values) == list(ref.kind.values)
    np.testing.assert_array_equal(ds.point_x.values, ref.point_x.values)


def test_evaluate_folder_equals_metrics_evaluate(phantom_folder, tmp_path, client):
    from confmap.io import load_folder
    from confmap.metrics import evaluate

    names = [f"case_{i:04d}" for i in range(4)]
    ds = load_folder(phantom_folder / "demo")
    maps = np.stack([read_map(phantom_folder / "maps" / f"{n}.nc").values for n in names])
    want = evaluate(maps, ds.agreement.values)
    got, rep = evaluate_folder(
        phantom_folder / "maps", phantom_folder / "demo", tmp_path / "report", client=client, progress=False
    )
    assert sorted(rep["done"]) == names and not rep["failed"] and not rep["problems"]
    assert list(got.image_id.values) == names
    for v in (
        "brier",
        "brier_foreground",
        "soft_dice",
        "psi_conf",
        "psi_agree",
        "auc",
        "tpr",
        "tp",
        "f1",
        "auc_mean",
        "tpr_mean",
        "f1_pooled",
        "precision_pooled",
        "accuracy_pooled",
        "bin_count",
        "pearson_r",
        "fit_y",
    ):
        np.testing.assert_allclose(got[v].values, want[v].values, rtol=1e-12, atol=0, err_msg=v)
    for v in ("bin_confidence", "bin_agreement", "ece", "mean_bin_gap"):
        np.testing.assert_allclose(got[v].values, want[v].values, rtol=1e-9, err_msg=v)
    assert np.isnan(got.auc_pooled.values).all()
    for f in ("evaluation.nc", "per_image.csv", "summary.csv", "roc.png", "reliability.png"):
        assert (tmp_path / "report" / f).exists()
    assert len((tmp_path / "report" / "per_image.csv").read_text().splitlines()) == 5
    again, rep = evaluate_folder(
        phantom_folder / "maps", phantom_folder / "demo", tmp_path / "report", progress=False, figures=False
    )
    assert sorted(rep["skipped"]) == names and not rep["done"]
    np.testing.assert_array_equal(again.brier.values, got.brier.values)
    with pytest.raises(FolderConflict):
        evaluate_folder(
            phantom_folder / "maps", phantom_folder / "demo", tmp_path / "report", thresholds=[0.5], progress=False
        )


def test_sweep_folder_equals_per_image_sweeps(phantom_folder, client):
    from confmap.batch import sweep_folder
    from confmap.io import load_folder
    from confmap.phantom import annotations_from_dataset
    from confmap.sweep import sweep

    grid = {"lam": [40, 60], "bandwidth": [0.1, 0.2]}
    res, failed = sweep_folder(phantom_folder / "demo", client=client, progress=False, **grid)
    assert not failed and res.brier.dims == ("image", "lam", "bandwidth")
    ds = load_folder(phantom_folder / "demo")
    for i, ann in enumerate(annotations_from_dataset(ds)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = sweep(ann, agreement=ds.agreement.values[i], progress=False, **grid)
        np.testing.assert_array_equal(res.brier.values[i], want.brier.values)
        np.testing.assert_array_equal(res.soft_dice.values[i], want.soft_dice.values)


def test_maps_to_zarr_is_a_chunked_stack(tmp_path, client):
    anns = [_ann((40, 56), i, f"z{i}") for i in range(5)]
    ds = maps_to_zarr(anns, tmp_path / "maps.zarr", params=PARAMS, chunk=2, client=client)
    assert ds.confidence.chunks == ((2, 2, 1), (40,), (56,))  # lazily opened, chunked by image
    for i, ann in enumerate(anns):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RippleWarning)
            want = confidence_map(ann, **PARAMS).values
        np.testing.assert_allclose(ds.confidence[i].values, want, rtol=0, atol=1e-7)  # float32 storage
    # the stack evaluated chunk by chunk from the lazily opened store, against metrics.evaluate
    from confmap.batch import evaluate_stack
    from confmap.metrics import evaluate

    agreement = (ds.confidence > 0.3).astype(float).chunk({"image": 2})  # still lazy
    got = evaluate_stack(ds.confidence, agreement, client=client)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = evaluate(ds.confidence.values, agreement.values)
    for v in ("brier", "soft_dice", "auc", "tpr_mean", "f1_pooled", "bin_count", "pearson_r"):
        np.testing.assert_allclose(got[v].values, want[v].values, rtol=1e-12, err_msg=v)
    with pytest.raises(ValueError, match="share one image shape"):
        maps_to_zarr([anns[0], _ann((30, 30), 0, "x")], tmp_path / "bad.zarr")


@pytest.mark.slow
def test_cross_validation_units_as_tasks_equal_serial(tmp_path, client):
    from confmap.batch import cross_validate as cv_dask
    from confmap.learn import CVConfig, cross_validate
    from confmap.phantom import make_dataset

    ds = make_dataset(4, seed=1, size=(32, 32), progress=False)
    cfg = CVConfig(losses=("brier",), n_folds=2, epochs=2, channels=(4, 8), batch_size=2)
    serial = cross_validate(ds, cfg, progress=False, num_threads=1)
    par = cv_dask(ds, cfg, client=client, out_dir=tmp_path / "cv", progress=False)
    for v in ("score", "fold_score", "train_loss", "prediction"):
        np.testing.assert_array_equal(par[v].values, serial[v].values, err_msg=v)
    units = sorted(p.name for p in (tmp_path / "cv" / "units").iterdir())
    assert units == sorted(f"{lo}-{lab}-fold{k}" for lo in cfg.losses for lab in cfg.labels for k in range(2))
    assert all((tmp_path / "cv" / "units" / u / "result.pt").exists() for u in units)
    # resumed from the unit folders by the serial path: nothing retrained, same numbers
    again = cross_validate(ds, cfg, out_dir=tmp_path / "cv", progress=False, on_epoch_end=lambda *a: 1 / 0)
    np.testing.assert_array_equal(again["score"].values, serial["score"].values)


def test_batch_public_names():
    import confmap.batch

    assert "batch" not in confmap.__all__
    for name in confmap.batch.__all__:
        assert getattr(confmap.batch, name).__doc__


def test_existing_scheduler_by_address_from_api_and_command_line(ann_dir, tmp_path, client):
    address = client.scheduler.address
    with open_client(scheduler=address) as other:
        rep = make_maps([ann_dir], tmp_path / "api", params=PARAMS, client=other, progress=False)
    assert rep.ok and len(rep.done) == 3
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "confmap",
            "maps",
            str(ann_dir),
            "-o",
            str(tmp_path / "cli"),
            "--lam",
            "40",
            "--scheduler",
            address,
            "-q",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    _check_maps(tmp_path / "cli", ["c0", "c1", "c2"])
