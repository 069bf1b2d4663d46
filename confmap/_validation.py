"""Shared argument checks and their error messages.

Every public function validates its arguments here first, so that bad input gets a clear
``ValueError``/``TypeError`` naming the argument, what arrived and what is allowed, instead of a
traceback from deep inside numpy or scipy. Also the few small rules every module shares: atomic
writes, file suffixes, optional imports, memory limits and when a progress bar shows.
"""

from __future__ import annotations

import numbers
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "check_array",
    "check_choice",
    "check_finite_array",
    "check_image_shape",
    "check_int",
    "check_keys",
    "check_memory",
    "check_number",
    "check_path",
    "check_points",
    "check_tuple",
    "check_type",
    "check_unit_interval",
    "describe",
    "file_suffix",
    "format_bytes",
    "import_optional",
    "map_memory_bytes",
    "memory_limit",
    "physical_memory",
    "progress_bar",
]


def describe(value) -> str:
    """A short description of ``value`` for error messages (type, and shape for arrays)."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (str, bytes)):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "...'"
    if isinstance(value, (numbers.Number, type(None), bool)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        text = repr(value)
        return text if len(text) <= 60 else f"{type(value).__name__} of length {len(value)}"
    return f"object of type {type(value).__name__}"


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as ``int`` if it is an integer within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"`{name}` must be an integer, got {describe(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be <= {maximum}, got {value}")
    return value


def check_number(
    name: str,
    value,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_min: bool = False,
    strict_max: bool = False,
) -> float:
    """Return ``value`` as a finite ``float`` within the given bounds.

    ``strict_min=True`` (``strict_max=True``) excludes ``minimum`` (``maximum``) itself, for "must be > 0".
    """
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"`{name}` must be a real number, got {describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value}")
    if minimum is not None and (value <= minimum if strict_min else value < minimum):
        raise ValueError(f"`{name}` must be {'>' if strict_min else '>='} {minimum}, got {value}")
    if maximum is not None and (value >= maximum if strict_max else value > maximum):
        raise ValueError(f"`{name}` must be {'<' if strict_max else '<='} {maximum}, got {value}")
    return value


def check_type(name: str, value, types, what: str):
    """Return ``value`` if it is an instance of ``types``, else TypeError saying ``name`` must be ``what``."""
    if not isinstance(value, types):
        raise TypeError(f"`{name}` must be {what}, got {describe(value)}")
    return value


def check_keys(what: str, keys, allowed, *, where: str = "", error=ValueError) -> None:
    """Raise ``error`` if ``keys`` has some not in ``allowed``: "unknown {what} [...]{where}; allowed are [...]"."""
    unknown = sorted(set(keys) - set(allowed))
    if unknown:
        raise error(f"unknown {what} {unknown}{where}; allowed are {list(allowed)}")


def check_choice(name: str, value, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of the strings in ``choices``."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be one of {allowed}, got {describe(value)}")
    return value


def check_tuple(name: str, value, length: int, what: str) -> tuple:
    """Return ``value`` as a tuple of ``length`` items; TypeError (not iterable) or ValueError (another
    length) saying that ``name`` must be ``what``. The items are for the caller to check."""
    try:
        seq = tuple(value)
    except TypeError:
        raise TypeError(f"`{name}` must be {what}, got {describe(value)}") from None
    if len(seq) != length:
        raise ValueError(f"`{name}` must be {what}, got {describe(value)}")
    return seq


def check_image_shape(name: str, value) -> tuple[int, int]:
    """Return ``value`` as an ``(H, W)`` tuple of positive ints."""
    seq = check_tuple(name, value, 2, "a pair (H, W) of positive integers")
    return check_int(f"{name}[0] (H)", seq[0], minimum=1), check_int(f"{name}[1] (W)", seq[1], minimum=1)


def check_array(name: str, value, *, ndim: int | Sequence[int] | None = None, dtype=float) -> np.ndarray:
    """Convert ``value`` to an array of ``dtype`` and check its number of dimensions."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"`{name}` must be array-like, got {describe(value)}")
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be a numeric array-like, got {describe(value)} ({exc})") from None
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"`{name}` must have {want} dimensions, got shape {arr.shape}")
    return arr


def check_finite_array(name: str, value, *, ndim=None, dtype=float) -> np.ndarray:
    """Like :func:`check_array` and also reject NaN and infinity."""
    arr = check_array(name, value, ndim=ndim, dtype=dtype)
    if arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"`{name}` must be finite, got {bad} NaN or infinite value(s)")
    return arr


def check_unit_interval(name: str, value, *, ndim=None) -> np.ndarray:
    """Return a finite float array with every value in [0, 1]."""
    arr = check_finite_array(name, value, ndim=ndim)
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise ValueError(f"`{name}` must have values in [0, 1], got values in [{arr.min():.6g}, {arr.max():.6g}]")
    return arr


def check_points(name: str, value, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Return an ``(N, 2)`` float array of finite ``(x, y)`` points inside the image.

    ``None`` or an empty sequence gives an empty ``(0, 2)`` array. When ``shape = (H, W)`` is given
    the points must lie in the image extent ``-0.5 <= x <= W - 0.5``, ``-0.5 <= y <= H - 0.5``
    (pixel centres on integers).
    """
    if value is None:
        return np.empty((0, 2))
    arr = check_array(name, value, dtype=float)
    if arr.size == 0:
        return np.empty((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"`{name}` must have shape (N, 2) of (x, y) points, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.all(np.isfinite(arr), axis=1)))
        raise ValueError(f"`{name}` must hold finite (x, y) points, got {bad} point(s) with NaN or inf")
    if shape is not None:
        h, w = shape
        outside = (arr[:, 0] < -0.5) | (arr[:, 0] > w - 0.5) | (arr[:, 1] < -0.5) | (arr[:, 1] > h - 0.5)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f"`{name}` has {int(outside.sum())} point(s) outside the image: point {i} is "
                f"(x={arr[i, 0]:.6g}, y={arr[i, 1]:.6g}), allowed is -0.5 <= x <= {w - 0.5} and "
                f"-0.5 <= y <= {h - 0.5} for an image of shape (H={h}, W={w})"
            )
    return arr


def check_path(name: str, value, *, exists: bool = False) -> Path:
    """``value`` (str or os.PathLike) as a ``Path``; with ``exists``, ``FileNotFoundError`` if absent."""
    path = Path(os.fspath(check_type(name, value, (str, os.PathLike), "a path (str or os.PathLike)")))
    if exists and not path.exists():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    return path


def file_suffix(path: Path) -> str:
    """The lower-case extension of ``path``, with ``".nii.gz"`` as one extension."""
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def atomic_write(path, write, *, suffix: str = "") -> Path:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then rename it to ``path``.

    A reader never sees a half-written file, and an interrupted or failed write leaves the old
    file intact (the temporary file is removed). ``suffix`` ends the temporary name, for writers
    that pick the format from the extension (``".nc"``, ``".nii.gz"``). The file gets the
    permissions a plain ``open(path, "w")`` would give (``0o666`` less the umask), not the private
    ``0o600`` of the temporary file.
    """
    path = Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process's umask, read without changing it where the OS allows (Linux: /proc)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)  # elsewhere the only way: set and restore at once
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`), flushed to disk."""

    def write(tmp):
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    return atomic_write(path, write)


# ---------------------------------------------------------------------------------------------
# memory limits
# ---------------------------------------------------------------------------------------------
#: environment variable that overrides the default memory limit (bytes, e.g. ``8e9``)
MAX_MEMORY_ENV = "CONFMAP_MAX_MEMORY"


def physical_memory() -> int | None:
    """Total physical memory of this machine in bytes, or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def memory_limit(max_memory=None) -> tuple[float, str]:
    """The memory limit in bytes and where it came from.

    ``max_memory`` (bytes) if given; else the ``CONFMAP_MAX_MEMORY`` environment variable (bytes);
    else half the physical memory (so a request that fits in virtual memory but not in RAM is refused
    before it can take the kernel down); else no limit (``inf``).
    """
    if max_memory is not None:
        return check_number("max_memory", max_memory, minimum=0.0, strict_min=True), "`max_memory`"
    if env := os.environ.get(MAX_MEMORY_ENV):
        try:
            value = float(env)
        except ValueError:
            raise ValueError(f"environment variable {MAX_MEMORY_ENV} must be a number of bytes, got {env!r}") from None
        return check_number(MAX_MEMORY_ENV, value, minimum=0.0, strict_min=True), MAX_MEMORY_ENV
    total = physical_memory()
    if total is None:
        return float("inf"), "no limit (physical memory unknown)"
    return total / 2, "half the physical memory"


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units, e.g. ``'298 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024:
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} PiB"


def map_memory_bytes(shape, lam: int) -> dict[str, float]:
    """Estimated peak memory of one confidence map, in bytes, by the argument that drives it.

    ``"annotation.shape"``: 3 float64 arrays of ``H x W`` (the map, the density crop, the sink
    factor); ``"lam"``: 6 arrays of ``(lam + 1)**2`` (grid weights, masks, grid coordinates). A lower
    bound on the peak, within a small factor of it.
    """
    h, w = shape
    return {"annotation.shape": 8.0 * 3 * h * w, "lam": 8.0 * 6 * (lam + 1) ** 2}


def check_memory(what: str, parts: dict[str, float], values: dict[str, object], *, max_memory=None) -> float:
    """Raise ``ValueError`` when the estimated memory ``sum(parts.values())`` exceeds the limit.

    ``parts`` maps an argument name to the bytes it drives; ``values`` maps it to what arrived. The
    message names the argument that drives most of the estimate, the estimate and the limit.
    """
    need = float(sum(parts.values()))
    limit, source = memory_limit(max_memory)
    if need > limit:
        name = max(parts, key=parts.get)
        raise ValueError(
            f"{what} would need about {format_bytes(need)} of memory, more than the limit of "
            f"{format_bytes(limit)} ({source}); `{name}` = {describe(values[name])} drives "
            f"{format_bytes(parts[name])} of it. Reduce `{name}`, or raise the limit with "
            f"`max_memory=` (bytes) or the {MAX_MEMORY_ENV} environment variable"
        )
    return need


def import_optional(module: str, purpose: str, pip_name: str, *, extra: str = "io"):
    """Import an optional dependency, or raise ``ImportError`` saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{purpose} needs the optional package `{pip_name}`: pip install {pip_name} "
            f"(or pip install 'confmap[{extra}]')"
        ) from None


def progress_bar(items, progress, *, desc: str, unit: str = "image", auto_from: int = 10):
    """``items`` in a tqdm bar when ``progress`` is true (None: when there are ``auto_from`` or more)."""
    if progress is None:
        progress = len(items) >= auto_from
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit=unit)
