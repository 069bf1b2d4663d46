"""Map parameters from flags or a TOML/JSON settings file, 1:1 onto :class:`confmap.MapParams`.

Nothing about a parameter is written here: the names come from :meth:`confmap.MapParams.fields`
(all but ``ripple_warn``, see :data:`FIELDS`), the checks and canonical types from
:func:`confmap.construct.check_param` (through :class:`~confmap.MapParams`), and the command-line
help from the ``Parameters`` section of :class:`~confmap.MapParams`' docstring. A new field of
``MapParams`` therefore becomes a flag (``--new-field``) and a settings-file key by itself.
"""

from __future__ import annotations

import inspect
import itertools
import json
import os
from pathlib import Path

from .._validation import check_keys
from ..construct import MapParams

__all__ = ["FIELDS", "MapSettings", "add_map_options", "parse_value", "settings_from_args"]

#: The fields a settings file or flag may set: every field of :class:`confmap.MapParams` that
#: shapes a map. ``ripple_warn`` is left out: it only decides whether to warn, and the batch
#: commands record every warning in each case's summary anyway.
FIELDS = tuple(f for f in MapParams.fields() if f != "ripple_warn")


class MapSettings:
    """The parameters of a confidence map (defaults: the paper's): a :class:`confmap.MapParams`
    restricted to :data:`FIELDS`, read from flags or a settings file.

    Parameters
    ----------
    **fields
        Any of :data:`FIELDS`, checked by :class:`confmap.MapParams`; read back as attributes.

    Raises
    ------
    TypeError
        For a name not in :data:`FIELDS`.
    ValueError, TypeError
        From :func:`confmap.construct.check_param`, naming the field.

    Examples
    --------
    >>> MapSettings(lam=60).to_kwargs()["lam"]
    60
    >>> MapSettings(lam=60).to_params().lam
    60
    """

    __slots__ = ("_params",)

    def __init__(self, **fields):
        check_keys("map parameter(s)", fields, FIELDS, error=TypeError)
        self._params = MapParams(**fields)

    def __getattr__(self, name):
        if name in FIELDS:
            return getattr(self._params, name)
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    def __eq__(self, other):
        return isinstance(other, MapSettings) and self.to_kwargs() == other.to_kwargs()

    def __hash__(self):
        return hash(json.dumps(self.to_kwargs()))

    def __repr__(self):
        return "MapSettings(" + ", ".join(f"{k}={v!r}" for k, v in self.to_kwargs().items()) + ")"

    def to_params(self) -> MapParams:
        """The :class:`confmap.MapParams` of these settings (``ripple_warn`` at its default)."""
        return self._params

    def to_kwargs(self) -> dict:
        """Keyword arguments of :func:`confmap.confidence_map` (JSON-serialisable: tuples as lists)."""
        return {f: (list(v) if isinstance(v, tuple) else v) for f in FIELDS for v in [getattr(self._params, f)]}

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
        check_keys("map parameter(s)", data, sorted(FIELDS), where=f" in {str(path)!r}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)


def parse_value(text: str):
    """A command-line word as the value a :class:`confmap.MapParams` field takes before its check:
    an int (``"60"``), else a float (``"0.2"``), else None for ``"none"``, else the word
    (``"scott"``, ``"alpha"``); :func:`confmap.construct.check_param` then decides."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return None if text.lower() == "none" else text


def _docs() -> dict[str, tuple[str, str]]:
    """``{field: (type line, description)}`` from the Parameters section of MapParams' docstring."""
    lines = inspect.cleandoc(MapParams.__doc__ or "").splitlines()
    out = {}
    for i, line in enumerate(lines):
        name, sep, kind = line.partition(" : ")
        if sep and name in FIELDS and i + 1 < len(lines):
            text = " ".join(t.strip() for t in itertools.takewhile(lambda t: t.startswith(" "), lines[i + 1 :]))
            out[name] = (kind.strip(), text.replace("``", "").replace(":meth:", "").rstrip("."))
    return out


def add_map_options(group) -> None:
    """One ``--<field>`` option per field of :data:`FIELDS` on an argparse (group), default None
    ("not given"); a tuple field takes as many words as its default has items."""
    docs = _docs()
    for name in FIELDS:
        default = MapParams.__dataclass_fields__[name].default
        kind, text = docs.get(name, ("", name))
        nargs = {"nargs": len(default)} if isinstance(default, tuple) else {}
        metavar = tuple(f"{name[0].upper()}{k}" for k in range(len(default))) if nargs else name.upper()
        help_text = f"{text} [{kind}]".replace("%", "%%")
        group.add_argument("--" + name.replace("_", "-"), type=parse_value, metavar=metavar, help=help_text, **nargs)


def settings_from_args(args) -> MapSettings:
    """The map parameters of `confmap maps`: a settings file (``args.settings``), if given,
    overridden by the flags of :func:`add_map_options` that were given."""
    flags = {name: (tuple(v) if isinstance(v, list) else v) for name in FIELDS for v in [getattr(args, name)]}
    if getattr(args, "settings", None):
        return MapSettings.from_file(args.settings, **flags)
    return MapSettings(**{k: v for k, v in flags.items() if v is not None})
