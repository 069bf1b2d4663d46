"""confmap's warning classes, in one place: every module that warns imports them from here."""

from __future__ import annotations

__all__ = ["ConfmapWarning", "NoRegionWarning", "RippleWarning", "UndefinedMetricWarning"]


class ConfmapWarning(UserWarning):
    """Base class of confmap's warnings."""


class NoRegionWarning(ConfmapWarning):
    """A tier has too few or collinear points for a region, or no tier has a region."""


class RippleWarning(ConfmapWarning):
    """The KDE kernel is narrower than the grid spacing: the map shows a lattice of bumps."""


class UndefinedMetricWarning(ConfmapWarning):
    """A metric is undefined for this input (empty denominator); its value is NaN."""
