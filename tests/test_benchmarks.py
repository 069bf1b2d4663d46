"""The benchmark suite: its quick mode runs and passes, a failing claim fails the run, and the
README's measured tables are exactly what benchmarks/readme.py writes from the committed report."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from benchmarks import readme, report, run

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_mode_exits_zero_and_writes_a_valid_report(tmp_path):
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    rep = json.loads(out.read_text())
    assert report.validate(rep) == []
    quick_ones = [n for n, m in run.BENCHMARKS.items() if not getattr(importlib.import_module(m), "FULL_ONLY", False)]
    assert sorted(rep["benchmarks"]) == sorted(quick_ones)
    n_claims = 0
    for name, entry in rep["benchmarks"].items():
        assert entry["status"] == "ok", (name, entry.get("error"))
        assert entry["mode"] == "quick"
        assert {"cpu", "cores", "python", "numpy"} <= set(entry["machine"]), name
        assert entry["figures"], name
        for f in entry["figures"]:
            if "passed" in f:
                n_claims += 1
                assert f["passed"] is True, (name, f)
    assert n_claims >= 10  # ratios and equalities of every benchmark were checked


def _fake_benchmark(monkeypatch, figures):
    mod = types.ModuleType("fake_bench")
    mod.benchmark = lambda *, quick: [dict(f) for f in figures]
    monkeypatch.setitem(sys.modules, "fake_bench", mod)
    monkeypatch.setitem(run.BENCHMARKS, "fake", "fake_bench")


def test_a_failing_claim_fails_the_run(monkeypatch, tmp_path, capsys):
    fig = report.figure("fake.ratio", 2.0, "s", baseline=3.0, ratio=1.5, claim=report.claim(">=", 5000))
    _fake_benchmark(monkeypatch, [fig])
    out = tmp_path / "r.json"
    assert run.main(["--only", "fake", "--output", str(out)]) == 1
    entry = json.loads(out.read_text())["benchmarks"]["fake"]
    assert entry["status"] == "failed" and entry["figures"][0]["passed"] is False
    assert "FAILED: fake" in capsys.readouterr().err


def test_a_crashing_benchmark_fails_the_run(monkeypatch, tmp_path):
    mod = types.ModuleType("crash_bench")

    def boom(*, quick):
        raise RuntimeError("broken benchmark")

    mod.benchmark = boom
    monkeypatch.setitem(sys.modules, "crash_bench", mod)
    monkeypatch.setitem(run.BENCHMARKS, "crash", "crash_bench")
    out = tmp_path / "r.json"
    assert run.main(["--only", "crash", "--output", str(out)]) == 1
    entry = json.loads(out.read_text())["benchmarks"]["crash"]
    assert entry["status"] == "error" and "broken benchmark" in entry["error"]


def test_a_benchmark_that_cannot_run_here_is_skipped_not_failed(monkeypatch, tmp_path):
    mod = types.ModuleType("skip_bench")

    def cannot(*, quick):
        raise report.Skipped("commit abc is not in this repository's history")

    mod.benchmark = cannot
    monkeypatch.setitem(sys.modules, "skip_bench", mod)
    monkeypatch.setitem(run.BENCHMARKS, "skip", "skip_bench")
    out = tmp_path / "r.json"
    assert run.main(["--only", "skip", "--output", str(out)]) == 0
    entry = json.loads(out.read_text())["benchmarks"]["skip"]
    assert entry["status"] == "skipped" and "not in this repository's history" in entry["reason"]


def test_architecture_benchmark_skips_without_the_old_commit(tmp_path):
    from benchmarks import bench_architecture

    with pytest.raises(report.Skipped, match="not in this repository's history"):
        bench_architecture.extract_old(tmp_path, commit="0" * 40)
    bare = tmp_path / "bare"  # not a git repository at all
    bare.mkdir()
    with pytest.raises(report.Skipped):
        bench_architecture.extract_old(tmp_path / "x", root=bare)


def test_line_ledger_counts_each_commits_python_lines_in_the_package(tmp_path):
    from benchmarks import bench_architecture

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True)

    def commit():
        git("add", "-A")
        git("commit", "-q", "-m", "x")
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()

    (tmp_path / "confmap" / "sub").mkdir(parents=True)
    git("init", "-q")
    (tmp_path / "confmap" / "a.py").write_text("a = 1\nb = 2\nc = 3\n")
    first = commit()
    (tmp_path / "confmap" / "a.py").write_text("a = 1\nc = 4\n")  # one deleted, one changed: +1 -2
    (tmp_path / "confmap" / "sub" / "b.py").write_text("x = 1\ny = 2\n")  # a nested module: +2
    (tmp_path / "confmap" / "notes.md").write_text("not Python\n" * 5)  # not counted
    (tmp_path / "tests.py").write_text("outside the package\n")  # not counted
    second = commit()
    with pytest.raises(report.Skipped, match="not in this repository's history"):
        bench_architecture.line_ledger([first], root=tmp_path)  # the root commit has no parent
    assert bench_architecture.line_ledger([second], root=tmp_path) == {second: (3, 2)}
    assert bench_architecture.largest_module(tmp_path) == ("confmap/a.py", 2)


def test_only_replaces_its_entries_and_keeps_the_others(monkeypatch, tmp_path):
    _fake_benchmark(monkeypatch, [report.figure("fake.x", 1.0, "", claim=report.claim("<=", 2))])
    out = tmp_path / "r.json"
    report.save({"schema": report.SCHEMA, "benchmarks": {"other": {"status": "ok", "figures": []}}}, out)
    assert run.main(["--only", "fake", "--output", str(out)]) == 0
    assert sorted(json.loads(out.read_text())["benchmarks"]) == ["fake", "other"]


@pytest.mark.parametrize(
    ("op", "bound", "quick", "x", "mode_quick", "want"),
    [
        (">=", 5000, 1000, 4000, False, False),
        (">=", 5000, 1000, 4000, True, True),
        ("<=", 0.3, None, 0.9, True, None),  # a bar in seconds is not checked in the quick mode
        ("<=", 0.3, None, 0.9, False, False),
        ("<=", 1e-12, "same", 2e-16, True, True),
        (">", 0.9, "same", 0.9, False, False),
    ],
)
def test_claim_is_checked_against_the_ratio_or_the_value(op, bound, quick, x, mode_quick, want):
    c = report.claim(op, bound, quick=quick)
    assert report.check(report.figure("a", x, "", claim=c), quick=mode_quick) is want
    # with a ratio the claim is about the ratio, not the value
    assert report.check(report.figure("a", -1.0, "", ratio=x, claim=c), quick=mode_quick) is want


def test_claim_refuses_an_unknown_operator():
    with pytest.raises(ValueError, match="`op` must be one of"):
        report.claim("~", 1)


def test_committed_report_is_valid_and_complete():
    rep = report.load(ROOT / "benchmarks" / "report.json")
    assert report.validate(rep) == []
    quick_ones = {n for n, m in run.BENCHMARKS.items() if not getattr(importlib.import_module(m), "FULL_ONLY", False)}
    # every benchmark of the quick mode is in it; a full-only one (minutes) may be missing, and the
    # README then says "not measured" where its table belongs
    assert quick_ones <= set(rep["benchmarks"]) <= set(run.BENCHMARKS)
    for name, entry in rep["benchmarks"].items():
        assert entry["mode"] == "full", name
        # "failed" is allowed: a claim that a full run did not meet is shown in the README, not hidden
        assert entry["status"] in ("ok", "failed"), (name, entry.get("reason"), entry.get("error"))
        for f in entry["figures"]:
            if "claim" in f:
                assert isinstance(f["passed"], bool), (name, f["id"])


def test_readme_tables_match_the_committed_report():
    assert readme.stale() == [], "run python benchmarks/readme.py"


def test_every_marked_block_is_known_and_the_readme_has_them_all():
    text = "".join((ROOT / f).read_text() for f in readme.FILES)
    names = set(readme.block_names(text))
    assert names <= set(readme.BLOCKS)
    assert names == set(readme.BLOCKS)  # every renderer is used somewhere
    for name in ("confidence-map-speed", "phantom", "evaluation", "sweep", "learn-quick", "learn-speed"):
        assert f"<!-- begin: {name} -->" in (ROOT / "README.md").read_text()


def test_a_changed_report_makes_the_readme_stale(tmp_path):
    rep = report.load(ROOT / "benchmarks" / "report.json")
    rep["benchmarks"]["results"]["figures"][0]["value"] += 0.1
    path = tmp_path / "report.json"
    report.save(rep, path)
    assert "README.md" in readme.stale(path)


def test_property_times_knows_the_suites_hypothesis_profiles():
    import conftest  # tests/conftest.py (pytest puts tests/ on sys.path)

    from benchmarks import bench_property_times

    assert bench_property_times.PROFILE_EXAMPLES == conftest.PROFILE_EXAMPLES
