"""Map parameters from flags or a TOML/JSON settings file, 1:1 onto :class:`confmap.MapParams`.

:class:`MapSettings` holds the fields of :class:`confmap.MapParams` that shape a map (all but
``ripple_warn``), checked by the same :func:`confmap.construct.check_param`;
:meth:`MapSettings.to_params` builds the :class:`~confmap.MapParams` and :meth:`MapSettings.to_kwargs`
gives the same fields as JSON-ready keyword arguments (what the batch manifests record).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..construct import MapParams, check_param

__all__ = ["MapSettings"]


@dataclass(frozen=True)
class MapSettings:
    """The parameters of a confidence map (defaults: the paper's).

    Parameters
    ----------
    lam : int, default 100
        Grid subsampling lambda.
    betas : (float, float, float), default (1.0, 0.5, 0.1)
        Tier weights (high, medium, low).
    bandwidth : float or {"scott", "silverman"}, default 0.1
        KDE bandwidth factor.
    kernel : {"full", "isotropic"}, default "full"
    region : {"convex", "alpha"}, default "convex"
    alpha : float, optional
        Alpha-shape circumradius in pixels (``region="alpha"``).
    sink_radius : float, optional
        Radius in pixels around sink points.

    Examples
    --------
    >>> MapSettings(lam=60).to_kwargs()["lam"]
    60
    >>> MapSettings(lam=60).to_params().lam
    60
    """

    lam: int = 100
    betas: tuple = (1.0, 0.5, 0.1)
    bandwidth: float | str = 0.1
    kernel: str = "full"
    region: str = "convex"
    alpha: float | None = None
    sink_radius: float | None = None

    def __post_init__(self):
        for f in dataclasses.fields(self):  # the checks of confmap.MapParams
            object.__setattr__(self, f.name, check_param(f.name, getattr(self, f.name)))

    def to_params(self) -> MapParams:
        """The :class:`confmap.MapParams` of these settings (``ripple_warn`` at its default)."""
        return MapParams(**dataclasses.asdict(self))

    def to_kwargs(self) -> dict:
        """Keyword arguments of :func:`confmap.confidence_map` (JSON-serialisable)."""
        d = dataclasses.asdict(self)
        d["betas"] = list(d["betas"])
        return d

    @classmethod
    def from_file(cls, path, **overrides) -> MapSettings:
        """Read settings from TOML (``.toml``) or JSON; ``overrides`` (not None) win.

        The file holds the field names at the top level or under a ``[maps]`` table, e.g.::

            [maps]
            lam = 60
            betas = [1.0, 0.5, 0.1]
            bandwidth = 0.2

        Raises
        ------
        ValueError
            For an unreadable file or unknown field names.
        """
        path = Path(os.fspath(path))
        try:
            if path.suffix.lower() == ".toml":
                try:
                    import tomllib
                except ModuleNotFoundError:  # Python 3.10
                    import tomli as tomllib

                data = tomllib.loads(path.read_text())
            else:
                data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the settings file {str(path)!r}: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("maps"), dict):
            data = data["maps"]
        if not isinstance(data, dict):
            raise ValueError(f"settings file {str(path)!r} must hold a table of map parameters")
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ValueError(f"unknown map parameter(s) {unknown} in {str(path)!r}; allowed are {sorted(fields)}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)
