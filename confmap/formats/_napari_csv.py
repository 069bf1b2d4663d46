"""napari points CSV: ``index, axis-0, axis-1, tier`` (napari's own points writer and reader).

``axis-0`` is the row ``y`` and ``axis-1`` the column ``x`` in data (pixel) coordinates: napari
does not save a layer's ``scale``, so no millimetres here. Files with more axes (a points layer on
a 3-D or time stack) are read when the leading axes are constant: the last two are ``(y, x)``.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from .._validation import atomic_write_bytes
from ..annotation import TIERS
from ._common import Record, fail, read_text, tier_of


def write(ann, path) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "axis-0", "axis-1", "tier"])
    i = 0
    for tier in TIERS:
        for x, y in ann.points(tier):
            w.writerow([i, repr(float(y)), repr(float(x)), tier])
            i += 1
    return atomic_write_bytes(path, buf.getvalue().encode("utf-8"))


def _float(text, path, field):
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise fail(path, field, "a number", repr(text)) from None
    if not math.isfinite(v):
        raise fail(path, field, "a finite number", repr(text))
    return v


def read(path, table):
    text = read_text(path)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise fail(path, "(file)", "valid CSV", str(exc)) from None
    if not rows:
        raise fail(path, "(header)", "a header 'index,axis-0,axis-1,tier'", "an empty file")
    header = [h.strip() for h in rows[0]]
    axes = [h for h in header if h.startswith("axis-")]
    want = [f"axis-{d}" for d in range(len(axes))]
    if len(axes) < 2 or sorted(axes, key=lambda h: (len(h), h)) != want:
        raise fail(path, "(header)", "columns axis-0, axis-1[, ...] (napari points CSV)", repr(",".join(header)))
    if "tier" not in header:
        raise fail(path, "(header)", "a 'tier' column naming each point's tier", repr(",".join(header)))
    if len(set(header)) != len(header):
        raise fail(path, "(header)", "distinct column names", repr(",".join(header)))
    col = {h: header.index(h) for h in header}
    ylast, xlast = col[f"axis-{len(axes) - 2}"], col[f"axis-{len(axes) - 1}"]
    leading = [col[f"axis-{d}"] for d in range(len(axes) - 2)]
    first = None
    rec = Record()
    for n, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise fail(path, f"line {n}", f"{len(header)} values like the header", f"{len(row)}")
        lead = tuple(_float(row[c], path, f"line {n} {header[c]}") for c in leading)
        if first is None:
            first = lead
        elif lead != first:
            raise fail(
                path, f"line {n} leading axes", f"the same values on every line ({first}): one 2-D image", f"{lead}"
            )
        y = _float(row[ylast], path, f"line {n} {header[ylast]}")
        x = _float(row[xlast], path, f"line {n} {header[xlast]}")
        tier = tier_of(row[col["tier"]], table, path, f"line {n} tier")
        rec.add(tier, x, y)
    return rec
