"""Figures, claims and the machine-readable report of the benchmark suite.

A benchmark returns a list of figures made with :func:`figure`. A figure is one measured number
(``value`` in ``unit``), optionally with the ``baseline`` it was measured against in the same run
and their ``ratio``, and optionally a :func:`claim` that the suite checks: a comparison of the
ratio (or, without a ratio, of the value) with a bound. Claims are ratios or exact equalities
measured in the same run; a bound may differ between the full mode and the quick mode (generous
margins for a noisy CI machine), or apply to the full mode only (``quick=None``).
"""

from __future__ import annotations

import datetime
import json
import math
import operator
import os
import platform
import subprocess
import sys
from pathlib import Path

SCHEMA = 1
ROOT = Path(__file__).resolve().parents[1]
_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}


class Skipped(Exception):
    """Raised by a benchmark that cannot run here (the message says why); recorded as skipped, like a
    missing ``REQUIRES`` module, not as a failure."""


def claim(op: str, bound: float, *, quick: float | None | str = "same", text: str = "") -> dict:
    """A checked statement about a figure's ratio (or value, when it has no ratio).

    Parameters
    ----------
    op : {">=", "<=", ">", "<", "=="}
    bound : float
        Bound in the full mode.
    quick : float, None or "same", optional
        Bound in the quick mode; None: not checked in the quick mode (e.g. a bar in seconds,
        which a loaded CI machine cannot promise); "same" (default): ``bound``.
    text : str, optional
        What the claim says, in words (e.g. "confmap >= 5,000x faster than scipy at 512^2").
    """
    if op not in _OPS:
        raise ValueError(f"`op` must be one of {sorted(_OPS)}, got {op!r}")
    return {"op": op, "bound": float(bound), "quick": float(bound) if quick == "same" else quick, "text": text}


def figure(
    fid: str,
    value: float,
    unit: str,
    *,
    label: str = "",
    baseline: float | None = None,
    ratio: float | None = None,
    claim: dict | None = None,  # noqa: F811 - the argument shadows the helper on purpose
    **extra,
) -> dict:
    """One measured figure; ``extra`` keys (JSON-serialisable) are kept in the report."""
    out = {"id": fid, "label": label, "value": _num(value), "unit": unit}
    if baseline is not None:
        out["baseline"] = _num(baseline)
    if ratio is not None:
        out["ratio"] = _num(ratio)
    if claim is not None:
        out["claim"] = claim
    out.update(extra)
    return out


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else None


def check(fig: dict, *, quick: bool) -> bool | None:
    """Whether a figure's claim holds (None: no claim, or not checked in this mode)."""
    c = fig.get("claim")
    if c is None:
        return None
    bound = c["quick"] if quick else c["bound"]
    if bound is None:
        return None
    x = fig["ratio"] if "ratio" in fig else fig["value"]
    if x is None:
        return False
    return bool(_OPS[c["op"]](x, bound))


def machine() -> dict:
    """Where the figures were measured: CPU, cores, OS, Python and library versions."""
    import numpy
    import scipy

    info = {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "load_average": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
    }
    for mod in ("confmap", "torch", "sklearn", "monai"):
        m = sys.modules.get(mod)
        if m is not None:
            info[mod] = getattr(m, "__version__", "?")
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def commit() -> dict:
    """The repository's commit and whether the working tree had changes to tracked files."""

    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short=10", "HEAD")
    if head.returncode != 0:
        return {"commit": None, "dirty": None}
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "confmap", "benchmarks")
    return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def load(path) -> dict:
    """A report as written by :func:`save` (an empty report when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return {"schema": SCHEMA, "benchmarks": {}}
    rep = json.loads(path.read_text())
    if rep.get("schema") != SCHEMA:
        raise ValueError(f"{path}: report schema {rep.get('schema')!r}, expected {SCHEMA}")
    return rep


def save(report: dict, path) -> None:
    """Write the report atomically (sorted keys, one figure per block, stable diffs)."""
    from confmap._validation import atomic_write_bytes

    atomic_write_bytes(Path(path), (json.dumps(report, indent=1, sort_keys=True) + "\n").encode())


def validate(report: dict) -> list[str]:
    """Problems with a report's structure (empty when valid)."""
    problems = []
    if report.get("schema") != SCHEMA:
        problems.append(f"schema {report.get('schema')!r} != {SCHEMA}")
    for name, b in report.get("benchmarks", {}).items():
        for key in ("mode", "date", "machine", "commit", "status", "figures", "seconds"):
            if key not in b:
                problems.append(f"{name}: no {key!r}")
        for f in b.get("figures", []):
            for key in ("id", "value", "unit"):
                if key not in f:
                    problems.append(f"{name}: figure without {key!r}: {f}")
            checked = "claim" in f and not (b.get("mode") == "quick" and f["claim"]["quick"] is None)
            if checked and not isinstance(f.get("passed"), bool):
                problems.append(f"{name}/{f.get('id')}: claim without 'passed'")
    return problems
