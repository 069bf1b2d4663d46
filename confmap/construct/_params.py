"""The construction's parameters: :class:`MapParams`, checked once, and the one set of checks.

``confidence_map``, ``confidence_maps``, ``sweep`` and the parameter explorer all check their
parameters here (:func:`check_param`), so a rule (say, what a bandwidth may be) is written once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .._validation import check_choice, check_int, check_keys, check_number, check_tuple, check_type, describe
from ..annotation import Annotation

__all__ = ["DEFAULT_RIPPLE_WARN", "WEIGHTED_TIERS", "MapParams", "check_annotation", "check_param"]

#: Tiers that carry weights, in the priority order of Eq. 5.
WEIGHTED_TIERS = ("high", "medium", "low")
#: Default ripple above which a RippleWarning is issued (relative peak-to-peak in a flat region).
DEFAULT_RIPPLE_WARN = 0.01

_BETA_NAMES = ("betas[0] (beta_H)", "betas[1] (beta_M)", "betas[2] (beta_L)")


def _betas(name, betas):
    seq = check_tuple(name, betas, 3, "three numbers (beta_H, beta_M, beta_L)")
    names = _BETA_NAMES if name == "betas" else tuple(f"{name}[{i}]" for i in range(3))
    return tuple(check_number(n, b, minimum=0.0) for n, b in zip(names, seq, strict=True))


def _bandwidth(name, v):
    if isinstance(v, str):
        return check_choice(name, v, ("scott", "silverman"))
    return check_number(name, v, minimum=0.0, strict_min=True)


def _alpha(name, v):
    if isinstance(v, (float, np.floating)) and math.isinf(v) and v > 0:  # +inf: keep every triangle
        return math.inf
    return check_number(name, v, minimum=0.0)


def _optional(check):
    return lambda name, v: None if v is None else check(name, v)


_CHECKS = {
    "lam": lambda n, v: check_int(n, v, minimum=1),
    "betas": _betas,
    "beta": lambda n, v: check_number(n, v, minimum=0.0),
    "bandwidth": _bandwidth,
    "kernel": lambda n, v: check_choice(n, v, ("full", "isotropic")),
    "region": lambda n, v: check_choice(n, v, ("convex", "alpha")),
    "alpha": _optional(_alpha),
    "sink_radius": _optional(lambda n, v: check_number(n, v, minimum=0.0, strict_min=True)),
    "ripple_warn": _optional(lambda n, v: check_number(n, v, minimum=0.0)),
}


def check_param(field: str, value, *, name: str | None = None):
    """Check one construction parameter and return it in its canonical type.

    Parameters
    ----------
    field : str
        A field of :class:`MapParams`, or ``"beta"`` for one tier weight (>= 0).
    value
        The value to check.
    name : str, optional
        The argument's name in error messages (default ``field``), e.g. ``"lam[2]"`` in a sweep.

    Returns
    -------
    The value as ``int`` (lam), ``float``, ``str``, a 3-tuple of floats (betas) or None.

    Raises
    ------
    TypeError, ValueError
        Naming the argument, what arrived and what is allowed.

    Examples
    --------
    >>> check_param("bandwidth", "scott"), check_param("lam", 50), check_param("alpha", None)
    ('scott', 50, None)
    """
    return _CHECKS[check_choice("field", field, sorted(_CHECKS))](field if name is None else name, value)


def check_annotation(annotation) -> Annotation:
    """Return ``annotation`` if it is a :class:`confmap.Annotation`, else raise TypeError."""
    return check_type("annotation", annotation, Annotation, "a confmap.Annotation")


@dataclass(frozen=True)
class MapParams:
    """The parameters of :func:`confmap.confidence_map`, checked once when made.

    Parameters
    ----------
    lam : int, default 100
        Grid subsampling lambda (>= 1): the grid has ``(lam + 1)**2`` points (Section 2.3).
    betas : (float, float, float), default (1.0, 0.5, 0.1)
        Tier weights ``(beta_H, beta_M, beta_L)`` of Eq. 5, each >= 0.
    bandwidth : float or {"scott", "silverman"}, default 0.1
        KDE bandwidth factor sigma (> 0), as ``scipy.stats.gaussian_kde``'s ``bw_method``.
    kernel : {"full", "isotropic"}, default "full"
        Full 2x2 kernel covariance (scipy's semantics) or the isotropic kernel of Eq. 6.
    region : {"convex", "alpha"}, default "convex"
        Tier regions: Delaunay (convex) or a carved alpha shape.
    alpha : float, optional
        Alpha-shape circumradius in pixels (``region="alpha"`` only; None carves every removable
        triangle, the same as 0).
    sink_radius : float, optional
        Radius in pixels of the tissue a sink removes; None: two grid spacings, see
        :meth:`sink_radius_px`.
    ripple_warn : float or None, default 0.01
        Predicted lattice ripple above which a :class:`confmap.RippleWarning` is issued; None never warns.

    Examples
    --------
    >>> p = MapParams(lam=50, bandwidth="scott")
    >>> p.replace(lam=80).lam, p.betas
    (80, (1.0, 0.5, 0.1))
    >>> MapParams.from_attrs(p.to_attrs()) == p
    True
    """

    lam: int = 100
    betas: tuple = (1.0, 0.5, 0.1)
    bandwidth: float | str = 0.1
    kernel: str = "full"
    region: str = "convex"
    alpha: float | None = None
    sink_radius: float | None = None
    ripple_warn: float | None = DEFAULT_RIPPLE_WARN

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, check_param(f.name, getattr(self, f.name)))

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        """The parameter names, in order."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def make(cls, params=None, **changes) -> MapParams:
        """``params`` (default: the defaults) with ``changes`` applied; unknown names raise TypeError."""
        check_type("params", params, (MapParams, type(None)), "a confmap.MapParams")
        check_keys("parameter(s)", changes, cls.fields(), error=TypeError)
        if params is None:
            return cls(**changes)
        return dataclasses.replace(params, **changes) if changes else params

    @classmethod
    def coerce(cls, value, *, name: str = "params") -> MapParams:
        """``value`` as a MapParams: None gives the defaults, a Mapping its fields (checked).

        Raises
        ------
        TypeError
            If ``value`` is neither a MapParams, a Mapping nor None, or names an unknown field.
        """
        if value is None or isinstance(value, MapParams):
            return cls() if value is None else value
        if isinstance(value, Mapping):
            return cls.make(**value)
        raise TypeError(f"`{name}` must be a confmap.MapParams or a mapping of its fields, got {describe(value)}")

    def replace(self, **changes) -> MapParams:
        """A copy with some parameters changed (checked again)."""
        return MapParams.make(self, **changes)

    def sink_radius_px(self, shape) -> float:
        """The sink radius in pixels for an image of ``shape = (H, W)``: given, or ``2 max(H, W) / lam``."""
        if self.sink_radius is None:
            return 2.0 * max(shape) / self.lam
        return self.sink_radius

    def kwargs(self) -> dict:
        """The parameters as keyword arguments of :func:`confmap.confidence_map`."""
        return {f: getattr(self, f) for f in self.fields()}

    def to_attrs(self) -> dict:
        """The parameters as NetCDF-safe attributes (what a map's ``attrs`` hold).

        ``alpha`` is written only for ``region="alpha"`` (None as 0.0), ``sink_radius`` and
        ``ripple_warn`` only when not None.
        """
        attrs = {
            "lam": self.lam,
            "betas": list(self.betas),
            "bandwidth": self.bandwidth,
            "kernel": self.kernel,
            "region": self.region,
        }
        if self.region == "alpha":
            attrs["alpha"] = 0.0 if self.alpha is None else float(self.alpha)
        if self.sink_radius is not None:
            attrs["sink_radius"] = self.sink_radius
        if self.ripple_warn is not None:
            attrs["ripple_warn"] = self.ripple_warn
        return attrs

    @classmethod
    def from_attrs(cls, attrs) -> MapParams:
        """The parameters stored in ``attrs`` (of a map or a Dataset); other keys are ignored."""
        kw = {f: attrs[f] for f in cls.fields() if f in attrs}
        if "betas" in kw:
            kw["betas"] = tuple(np.asarray(kw["betas"], dtype=float).tolist())
        if "lam" in kw:
            kw["lam"] = int(kw["lam"])
        if "ripple_warn" not in attrs:
            kw["ripple_warn"] = None
        if kw.get("region") != "alpha":
            kw.pop("alpha", None)
        elif kw.get("alpha") == 0.0:
            kw["alpha"] = None
        return cls(**kw)
