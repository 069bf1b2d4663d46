"""Step 4b of the construction: the weighted Gaussian KDE at every pixel, exactly and fast.

A direct evaluation costs ``pixels x grid points`` kernel evaluations (about a minute at 512x512
with scipy). Here the correlated Gaussian kernel is written, with ``u = dx / sigma_x`` and
``v = dy / sigma_y``, through Mehler's formula as a sum of separable terms

    exp(-(u^2 - 2 rho u v + v^2) / (2 (1 - rho^2)))
        = sqrt(1 - rho^2) * sum_n rho^n phi_n(u) phi_n(v),   phi_n(u) = exp(-u^2/2) He_n(u)/sqrt(n!)

so the density on the pixel lattice is ``sum_n rho^n Phi_y[n] @ w @ Phi_x[n].T``: a few dense
matrix products over only the pixels and grid points within 9 kernel standard deviations of the
weighted region (the kernel is below ``exp(-40)`` beyond). By Cramer's inequality
``|phi_n(u)| <= 1.0865 exp(-u^2/4)``, so the truncation error after ``N`` terms is below
``4.8 |rho|^N / (1 - |rho|)`` relative to the density, and ``N`` is chosen for ``1e-12``. The
product over grid rows is banded: blocks of pixel rows, each with a window of the grid rows within
the first ``N`` Hermite functions' reach (:func:`_hermite_reach`, about 8.5 sigma), one contiguous
BLAS product per block (:func:`mehler`).

A strongly correlated kernel (an elongated region at an angle, or a tier stretched across the
image) needs many terms. An integer shear ``x' = x - c y`` (or ``y' = y - d x``) maps the pixel
lattice onto itself and, when ``c hy / hx`` is an integer, the grid lattice too; it changes the
covariance to ``S cov S^T`` (determinant 1) and usually shrinks ``|rho|`` a lot, so the series is
evaluated in sheared coordinates and gathered back. Each candidate (no shear, x- or y-shears up to
8, and a direct sum over sheared rows) is costed by its multiply-adds and the cheapest is used
(:func:`choose_plan`, a :class:`Plan`); all are exact to the same truncation (tested against a
brute-force sum).
"""

from __future__ import annotations

import bisect
import functools
import math
import threading
from typing import NamedTuple

import numpy as np

from .._validation import check_image_shape

__all__ = ["Plan", "choose_plan", "density_crop", "mehler", "sheared_sum", "weighted_kde"]

# Kernel cut-off in standard deviations: the Gaussian is below exp(-40.5) beyond it.
CUTOFF_SIGMAS = 9.0
# Hermite-function truncation tolerance and Cramer's constant squared (times a margin of 4).
_SERIES_TOL = 1e-12
_CRAMER_K2 = 1.0865**2
# Series terms beyond which a candidate is not considered at all (the direct sum always works).
_MAX_TERMS = 400
# The cost model of choose_plan: the largest integer shear tried, the operations per Hermite-function
# value (relative to one multiply-add), and per term of the direct sum (one exp and its bookkeeping).
_MAX_SHEAR = 8
_HERMITE_OPS = 8
_DIRECT_OPS = 25.0
# Candidate pixel rows per banded product in mehler, and the cost of one product call in multiply-adds.
_BLOCKS = (8, 12, 16, 24, 32, 48, 64)
_CALL_OPS = 60_000
# Hermite functions: dropped beyond this many kernel sigmas (Cramer's bound: below 1.09 exp(-36)),
# or closer where their total is below _REACH_TOL of the kernel's peak (see _hermite_reach).
_HERMITE_REACH = CUTOFF_SIGMAS + 3
_REACH_TOL = 1e-14
_REACH_STEPS = tuple(6.0 + 0.25 * i for i in range(24))
_CRAMER_K = 1.0865


class Plan(NamedTuple):
    """How :func:`weighted_kde` evaluates the density on a crop.

    Attributes
    ----------
    kind : {"mehler", "mehler_y", "direct"}
        Mehler's series after an x-shear, after a y-shear (the transposed problem), or the
        direct sum over sheared rows.
    shear : int
        The integer shear ``c`` of the pixel lattice (0: none).
    grid_shift : int
        ``c hy / hx`` (or ``c hx / hy``): how many grid columns a grid row moves per row.
    """

    kind: str
    shear: int = 0
    grid_shift: int = 0


def weighted_kde(weights, grid, shape, *, cov) -> np.ndarray:
    """Evaluate the weighted Gaussian KDE of the grid at every pixel centre, exactly and fast.

    Parameters
    ----------
    weights : ndarray, shape (len(gy), len(gx))
        Grid weights (>= 0, positive sum); normalised internally as scipy does.
    grid : (ndarray, ndarray)
        ``(gx, gy)`` grid positions in pixels (evenly spaced, see :func:`mesh_grid`).
    shape : (int, int)
        ``(H, W)``: the density is evaluated at pixel centres ``x = 0..W-1``, ``y = 0..H-1``.
    cov : ndarray, shape (2, 2)
        Kernel covariance in square pixels (see :func:`kde_covariance`).

    Returns
    -------
    ndarray, shape (H, W)
        The density ``sum_i w_i N(p - g_i; cov) / sum_i w_i`` in 1 / pixel**2; identical to
        ``scipy.stats.gaussian_kde`` with the same weights and covariance up to about 1e-12
        relative to its maximum. Exactly 0 beyond 9 kernel standard deviations of every weighted
        grid point.

    Notes
    -----
    See the module docstring for the method (Mehler's expansion over the cropped lattice, or a
    sheared direct sum for strongly correlated kernels). Cost grows with the *annotated* area, not
    with pixels x grid points.
    """
    h, wd = check_image_shape("shape", shape)
    gx, gy = (np.asarray(g, dtype=float) for g in grid)
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(gy), len(gx)):
        raise ValueError(f"`weights` must have shape (len(gy), len(gx)) = {(len(gy), len(gx))}, got {w.shape}")
    cov = np.asarray(cov, dtype=float)
    ok = cov.shape == (2, 2) and np.all(np.isfinite(cov)) and cov[0, 0] > 0 and cov[1, 1] > 0
    if not ok or np.linalg.det(cov) <= 0:
        raise ValueError(f"`cov` must be a finite positive-definite 2x2 matrix, got {cov.tolist()}")
    out = np.zeros((h, wd))
    crop = density_crop(w, gx, gy, (h, wd), cov)
    if crop is not None:
        dens, (y0, y1, x0, x1) = crop
        out[y0:y1, x0:x1] = dens
    return out


def density_crop(w, gx, gy, shape, cov):
    """The density on the pixels within the kernel's reach of the weighted grid points.

    Returns ``(dens, (y0, y1, x0, x1))`` with ``dens`` for pixel rows ``y0:y1`` and columns
    ``x0:x1`` (exactly 0 elsewhere), or None when nothing is weighted or in reach.
    """
    h, wd = shape
    total = w.sum()
    if not total > 0:
        return None
    rows = np.flatnonzero(w.any(axis=1))
    cols = np.flatnonzero(w.any(axis=0))
    wc = w[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] / total
    gxc = gx[cols[0] : cols[-1] + 1]
    gyc = gy[rows[0] : rows[-1] + 1]
    sx, sy = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    x0 = max(0, math.ceil(gxc[0] - CUTOFF_SIGMAS * sx))
    x1 = min(wd - 1, math.floor(gxc[-1] + CUTOFF_SIGMAS * sx))
    y0 = max(0, math.ceil(gyc[0] - CUTOFF_SIGMAS * sy))
    y1 = min(h - 1, math.floor(gyc[-1] + CUTOFF_SIGMAS * sy))
    if x1 < x0 or y1 < y0:
        return None
    px = np.arange(x0, x1 + 1, dtype=float)
    py = np.arange(y0, y1 + 1, dtype=float)
    with _blas_controller().limit(limits=1, user_api="blas"):
        dens = _kde_crop(wc, gxc, gyc, px, py, cov)
    return dens, (y0, y1 + 1, x0, x1 + 1)


def _kde_crop(wc, gxc, gyc, px, py, cov):
    """The density on the pixel crop ``py x px`` by the cheapest exact method (see module doc)."""
    plan = choose_plan(wc.shape, gxc, gyc, px, py, cov, wc=wc)
    if plan.kind == "mehler":
        return _mehler_xshear(wc, gxc, gyc, px, py, cov, plan.shear, plan.grid_shift)
    if plan.kind == "mehler_y":  # shear along y: the same computation on the transposed problem
        return _mehler_xshear(wc.T, gyc, gxc, py, px, cov[::-1, ::-1], plan.shear, plan.grid_shift).T
    return sheared_sum(wc, gxc, gyc, px, py, cov)


def _spacing(g):
    return float(g[1] - g[0]) if len(g) > 1 else 1.0


def _row_extents(wc):
    """First and last weighted column of each weighted row of ``wc``: ``(rows, first, last)``."""
    nz = wc != 0
    rows = np.flatnonzero(nz.any(axis=1))
    nzr = nz[rows]
    first = nzr.argmax(axis=1)
    last = nz.shape[1] - 1 - nzr[:, ::-1].argmax(axis=1)
    return rows, first, last


def _mehler_cost(n_terms, n_px_rows, width, n_rows, n_cols, sigma_rows, h_rows):
    """Multiply-adds of :func:`mehler` on ``n_px_rows x width`` pixels and ``n_rows x n_cols`` grid points:
    the product over grid columns, the banded product over grid rows (blocks of 16 pixel rows, a band
    of grid rows within ``_HERMITE_REACH`` kernel sigmas of them), the Hermite functions."""
    band = min(n_rows, (16 + 2 * _HERMITE_REACH * sigma_rows) / h_rows + 1)
    products = n_rows * n_cols * width + n_px_rows * band * width
    hermite = _HERMITE_OPS * (n_cols * width + n_px_rows * n_rows)
    return n_terms * (products + hermite)


def choose_plan(wshape, gxc, gyc, px, py, cov, max_shear=_MAX_SHEAR, wc=None) -> Plan:
    """Choose the evaluation (see the module docstring): Mehler's series after an x- or y-shear
    ``|c| <= max_shear`` with ``r = c hy / hx`` an integer (``S cov S^T``, ``S = [[1, -c], [0, 1]]``), or
    the direct sheared-row sum, whichever costs the fewest multiply-adds (:func:`_mehler_cost`; with
    ``wc``, the cropped weights of shape ``wshape``, on the sheared extent of the weighted grid points).
    """
    n_l, n_k = wshape
    n_y, n_x = len(py), len(px)
    hx, hy = _spacing(gxc), _spacing(gyc)
    sxy = cov[0, 1]
    # a y-shear is the x-shear of the transposed problem
    ext_x = ext_y = None
    if wc is not None:
        rows, first, last = _row_extents(wc)
        cols, first_t, last_t = _row_extents(wc.T)
        ext_x = (gyc[rows], gxc[first], gxc[last])  # per weighted grid row: y, first x, last x
        ext_y = (gxc[cols], gyc[first_t], gyc[last_t])
    axes = [
        ("mehler", cov[0, 0], cov[1, 1], hx, hy, n_l, n_k, py, px, ext_x),
        ("mehler_y", cov[1, 1], cov[0, 0], hy, hx, n_k, n_l, px, py, ext_y),
    ]
    best = None
    shears = np.arange(-max_shear, max_shear + 1)
    for kind, sxx, syy, h_cols, h_rows, rows, cols, p_rows, p_cols, ext in axes:
        if ext is not None:  # the sheared extent of the weighted grid points, for every shear at once
            g_rows, lo, hi = ext
            shift = shears[:, None] * g_rows
            spans = (hi - shift).max(axis=1) - (lo - shift).min(axis=1)
        for c in shears.tolist():
            r = c * h_rows / h_cols
            if abs(r - round(r)) > 1e-9:
                continue
            sx, sy, rho = _sheared(sxx, sxy, syy, c)  # x' = x - c y
            n_terms = _n_terms(rho)
            if n_terms > _MAX_TERMS:
                continue
            if ext is None:  # the sheared bounding box
                sheared_cols = cols + abs(round(r)) * (rows - 1)
                width = len(p_cols) + abs(c) * (len(p_rows) - 1)
            else:  # the sheared extent of the weighted grid points, plus the kernel's reach
                span = float(spans[c + max_shear])
                sheared_cols = span / h_cols + 1
                span_px = p_cols[-1] - p_cols[0] + abs(c) * (p_rows[-1] - p_rows[0]) + 1
                width = min(span_px, span + 2 * CUTOFF_SIGMAS * sx + 1)
            cost = _mehler_cost(n_terms, len(p_rows), width, rows, sheared_cols, sy, h_rows)
            if best is None or cost < best[0]:
                best = (cost, kind, c, int(round(r)))
    # the direct sum: one exp per (grid row, pixel row, pixel, nearby grid column)
    det = cov[0, 0] * cov[1, 1] - cov[0, 1] ** 2
    s = math.sqrt(det / cov[1, 1])
    near_rows = min(n_y, 2 * CUTOFF_SIGMAS * math.sqrt(cov[1, 1]) + 1)
    direct = _DIRECT_OPS * n_l * near_rows * n_x * (2 * math.ceil(CUTOFF_SIGMAS * s / hx) + 3)
    if best is None or direct < best[0]:
        return Plan("direct")
    return Plan(*best[1:])


def _sheared(sxx, sxy, syy, c):
    """``(sx, sy, rho)`` of the kernel with covariance ``[[sxx, sxy], [sxy, syy]]`` in coordinates ``x' = x - c y``."""
    sx, sy = math.sqrt(sxx - 2 * c * sxy + c * c * syy), math.sqrt(syy)
    return sx, sy, (sxy - c * syy) / (sx * sy)


def _mehler_xshear(wc, gxc, gyc, px, py, cov, c, r):
    """Mehler's series in the coordinates ``x' = x - c y`` (``c = 0``: none); ``r = c hy / hx``.

    Pixel row ``y`` of the result is row ``y`` of the sheared density from column ``x0 - c y`` on:
    the sheared density is zero-padded and read through a strided view (no per-pixel index arrays).
    """
    sx, sy, rho = _sheared(cov[0, 0], cov[0, 1], cov[1, 1], c)
    rho = float(np.clip(rho, -1.0, 1.0))
    if c == 0:
        return mehler(wc, gxc, gyc, px, py, sx, sy, rho, _n_terms(rho))
    n_l, n_k = wc.shape
    hx = _spacing(gxc)
    # grid row l moves by -r * l columns: x'_k = gx0 - c gy0 + (k - r l) hx
    shifts = -r * np.arange(n_l)
    smin = int(shifts.min())
    n_k2 = n_k + int(shifts.max()) - smin
    w2 = np.zeros((n_l, n_k2))
    rows = np.repeat(np.arange(n_l), n_k)
    cols = (np.arange(n_k)[None, :] + (shifts - smin)[:, None]).ravel()
    w2[rows, cols] = wc.ravel()
    used = np.flatnonzero(w2.any(axis=0))
    w2 = w2[:, used[0] : used[-1] + 1]
    gx2 = gxc[0] - c * gyc[0] + (np.arange(used[0], used[-1] + 1) + smin) * hx
    # sheared pixel columns that can matter: within the cut-off of the weighted columns
    n_y, n_x = len(py), len(px)
    x_start = px[0] - c * py  # sheared column of each row's first pixel
    lo = max(x_start.min(), math.ceil(gx2[0] - CUTOFF_SIGMAS * sx))
    hi = min(x_start.max() + n_x - 1, math.floor(gx2[-1] + CUTOFF_SIGMAS * sx))
    if hi < lo:
        return np.zeros((n_y, n_x))
    dens2 = mehler(w2, gx2, gyc, np.arange(lo, hi + 1, dtype=float), py, sx, sy, rho, _n_terms(rho))
    # padded[i, pad + j] = dens2[i, j]; row i of the result starts at sheared column x_start[i]
    offset = (x_start - lo).astype(np.int64)  # steps of -c per row
    pad = max(0, -int(offset.min()))
    padded = np.zeros((n_y, pad + max(dens2.shape[1], int(offset.max()) + n_x)))
    padded[:, pad : pad + dens2.shape[1]] = dens2
    step = padded.strides[0] + (offset[1] - offset[0]) * padded.strides[1] if n_y > 1 else padded.strides[0]
    view = np.lib.stride_tricks.as_strided(
        padded[0, pad + offset[0] :], shape=(n_y, n_x), strides=(step, padded.strides[1]), writeable=False
    )
    return view.copy()


# Per-thread scratch buffers of mehler's intermediates (see _scratch).
_SCRATCH = threading.local()


def _scratch(slot: str, shape) -> np.ndarray:
    """An uninitialised float64 array of ``shape``, a view of this thread's buffer ``slot``.

    The buffer is kept and reused by the next call (grown when too small). The intermediates of a
    512 x 512 map are a few MB; allocated anew each time, glibc hands the memory back to the OS
    between maps and the next map faults it in again page by page (about 1,000 page faults, a
    third of the map's time, measured). Only :func:`mehler`'s internals use it: nothing returned
    is a scratch view.
    """
    n = math.prod(shape)
    bufs = _SCRATCH.__dict__.setdefault("bufs", {})
    buf = bufs.get(slot)
    if buf is None or buf.size < n:
        buf = bufs[slot] = np.empty(n)
    return buf[:n].reshape(shape)


@functools.cache
def _blas_controller():
    """BLAS is limited to one thread here: the products are small, and waking a second thread costs
    more than it gains (measured 2-8x slower with two threads on a busy 2-core machine)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _n_terms(rho):
    r = abs(rho)
    if r < 1e-15:
        return 1
    if r >= 1:
        return _MAX_TERMS + 1
    n = math.log(_SERIES_TOL * (1 - r) / (4 * _CRAMER_K2)) / math.log(r)
    return max(1, math.ceil(n))


def _reach_total(reach, n_terms, r):
    """``sum_n r^n exp(-reach^2/2) |He|_n(reach) / sqrt(n!)`` (``|He|_n``: all coefficients positive)."""
    h_prev, h, total, rn = 0.0, 1.0, 0.0, 1.0
    for n in range(n_terms):
        total += rn * h
        h_prev, h = h, (reach * h + math.sqrt(n) * h_prev) / math.sqrt(n + 1)
        rn *= r
    return math.exp(-0.5 * reach * reach) * total


@functools.lru_cache(maxsize=1024)
def _hermite_reach(n_terms, r_milli):
    """Distance in kernel sigmas beyond which the first ``n_terms`` Hermite functions (times ``r**n``,
    ``r = r_milli / 1000``) can be dropped: their total is below ``_REACH_TOL`` of the kernel's peak there.

    For ``|u| >= sqrt(n)``, ``|phi_n(u)| <= exp(-u^2/2) |He|_n(|u|) / sqrt(n!)`` and the right side
    decreases in ``|u|`` (``|He|_n``: all coefficients positive, ``|He|_n' = n |He|_{n-1} <= n/u |He|_n``).
    The other factor of a term is at most Cramer's ``1.0865``. At most ``_HERMITE_REACH`` = 12
    (Cramer's bound alone: ``1.0865 exp(-36)``).
    """
    r = r_milli / 1000.0
    # the bound holds from sqrt(n_terms) on, and decreases with the reach there: bisect the steps
    steps = [s for s in _REACH_STEPS if s * s >= n_terms]
    hi = bisect.bisect_left(steps, True, key=lambda s: 2 * _CRAMER_K * _reach_total(s, n_terms, r) <= _REACH_TOL)
    return steps[hi] if hi < len(steps) else _HERMITE_REACH  # steps[hi:] pass (hi = len: only the cap)


def _hermite_functions(u, n_terms, scale=1.0, *, out):
    """``scale^n phi_n(u)`` for ``n < n_terms`` written into ``out``, of shape ``(n_terms, *u.shape)``.

    0 where ``|u| > _HERMITE_REACH`` (``|phi_n| < 1.09 exp(-36)`` there, and no slow subnormals). The
    recurrence ``phi_{n+1} = (u phi_n - sqrt(n) phi_{n-1}) / sqrt(n + 1)`` is stable, its values below
    1.09 for any ``n_terms`` (tested up to thousands).
    """
    e = out[0]
    np.multiply(u, u, out=e)
    np.copyto(e, np.inf, where=e > _HERMITE_REACH * _HERMITE_REACH)
    e *= -0.5
    np.exp(e, out=e)
    if n_terms > 1:
        su = u * scale
        np.multiply(su, e, out=out[1])
        tmp = _scratch("hermite_tmp", u.shape)
        for n in range(1, n_terms - 1):
            # s^(n+1) phi_(n+1) = (s u s^n phi_n - s^2 sqrt(n) s^(n-1) phi_(n-1)) / sqrt(n + 1)
            np.multiply(su, out[n], out=out[n + 1])
            np.multiply(out[n - 1], scale * scale * math.sqrt(n), out=tmp)
            out[n + 1] -= tmp
            out[n + 1] *= 1.0 / math.sqrt(n + 1)
    return out


def _band_rows(block, reach_px, h, n_rows):
    """Grid rows that a block of ``block`` pixel rows needs: all within ``reach_px`` of any of them."""
    return min(n_rows, math.ceil((block - 1 + 2 * reach_px) / h) + 2)


def _block_rows(n_y, n_x, n_terms, reach_px, h, n_rows):
    """Pixel rows per banded product in :func:`mehler`: the candidate of ``_BLOCKS`` with the fewest
    multiply-adds (products and y-side Hermite functions), plus ``_CALL_OPS`` per product."""

    def cost(b):
        band = _band_rows(b, reach_px, h, n_rows)
        return n_y * n_terms * band * (n_x + _HERMITE_OPS) + math.ceil(n_y / b) * _CALL_OPS

    return min(_BLOCKS, key=cost)  # the first of equal costs


def mehler(wc, gxc, gyc, px, py, sx, sy, rho, n_terms, block=None):
    """Mehler's series on the pixel crop: ``sum_n rho^n Phi_y[n] @ wc @ Phi_x[n].T``.

    First ``T[l, n, x] = sum_k wc[l, k] rho^n phi_n(u[k, x])`` (one product per term). Then the pixel
    rows (consecutive integers) in blocks of ``block`` (default: :func:`_block_rows`), each a product
    with a window of the same number of grid rows (:func:`_band_rows`) holding all within the Hermite
    functions' reach of the block (:func:`_hermite_reach`; the kernel is banded), over (grid row,
    term) pairs; the y-side Hermite functions are computed on these windows only.
    ``rho^n`` is folded into the x side's Hermite functions (:func:`_hermite_functions`).
    """
    n_l, n_k = wc.shape
    n_x, n_y = len(px), len(py)
    # x side: T[l, n, x], written straight into the (L, N, X) layout that the banded products read
    u = (px[None, :] - gxc[:, None]) * (1.0 / sx)  # (K, X)
    t = _scratch("t", (n_l, n_terms, n_x))
    phx = _hermite_functions(u, n_terms, rho, out=_scratch("phi_x", (n_terms, *u.shape)))
    np.matmul(wc, phx, out=t.transpose(1, 0, 2))
    # y side: block i of pixel rows pairs with grid rows first[i] .. first[i] + band - 1
    hy = _spacing(gyc)
    reach = _hermite_reach(n_terms, math.ceil(min(abs(rho), 0.999) * 1000)) * sy  # |rho| rounded up: cached
    if block is None:
        block = _block_rows(n_y, n_x, n_terms, reach, hy, n_l)
    band = _band_rows(block, reach, hy, n_l)
    starts = np.arange(0, n_y, block)
    first = np.clip(np.floor((py[starts] - reach - gyc[0]) / hy).astype(np.int64), 0, n_l - band)
    rows = np.repeat(first, block)[:n_y, None] + np.arange(band)  # (Y, band) grid row indices
    v = (py[:, None] - gyc[rows]) * (1.0 / sy)
    # laid out (Y, band, N) so that a block is one contiguous (rows, band N) matrix (a 2-D
    # transposition: numpy copies (N, M) -> (M, N) several times faster than (N, Y, B) -> (Y, B, N))
    phy = _hermite_functions(v, n_terms, out=_scratch("phi_y", (n_terms, *v.shape))).reshape(n_terms, n_y * band)
    phy_t = _scratch("phi_y_t", (n_y * band, n_terms))
    np.copyto(phy_t, phy.T)
    phy = phy_t.reshape(n_y, band * n_terms)
    dens = np.empty((n_y, n_x))
    for y0, l0 in zip(starts.tolist(), first.tolist(), strict=True):
        y1 = min(n_y, y0 + block)
        np.matmul(phy[y0:y1], t[l0 : l0 + band].reshape(band * n_terms, n_x), out=dens[y0:y1])
    dens *= 1.0 / (2.0 * math.pi * sx * sy)
    return dens


def sheared_sum(wc, gxc, gyc, px, py, cov):
    """Direct truncated sum, one grid row at a time, the kernel completed in x (sheared rows)."""
    sxx, sxy, syy = cov[0, 0], cov[0, 1], cov[1, 1]
    det = sxx * syy - sxy * sxy
    s2 = det / syy  # conditional variance of x given y
    shear = sxy / syy
    sy = math.sqrt(syy)
    s = math.sqrt(s2)
    hx = _spacing(gxc)
    half = math.ceil(CUTOFF_SIGMAS * s / hx) + 1
    offsets = np.arange(-half, half + 1)
    k_count = len(gxc)
    dens = np.zeros((len(py), len(px)))
    norm = 1.0 / (2.0 * math.pi * math.sqrt(det))
    for l_idx, yl in enumerate(gyc):
        wrow = wc[l_idx]
        if not wrow.any():
            continue
        sel = np.flatnonzero(np.abs(py - yl) <= CUTOFF_SIGMAS * sy)
        if sel.size == 0:
            continue
        dy = py[sel] - yl
        gy_fac = np.exp(-0.5 * dy * dy / syy)
        t = px[None, :] - shear * dy[:, None]  # (Ys, X): x - x_k must be near t for kernel mass
        k0 = np.rint((t - gxc[0]) / hx).astype(np.int64)
        k = k0[..., None] + offsets  # (Ys, X, J)
        valid = (k >= 0) & (k < k_count)
        kc = np.clip(k, 0, k_count - 1)
        wk = np.where(valid, wrow[kc], 0.0)
        d = t[..., None] - gxc[kc]
        contrib = (wk * np.exp(-0.5 * d * d / s2)).sum(axis=-1)
        dens[sel] += gy_fac[:, None] * contrib
    return dens * norm
