"""One drawing style of the tiers (colour, marker, label), used by every widget, plot and notebook.

Plain data, no matplotlib: ``TIER_STYLE[tier]`` unpacks as ``(colour, marker, label)``, and
:func:`marker_kwargs` gives the keyword arguments of ``Axes.plot`` / ``Axes.scatter``.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["TIER_STYLE", "TierStyle", "marker_kwargs"]


class TierStyle(NamedTuple):
    """How a tier is drawn: a matplotlib colour, a marker and a legend label."""

    colour: str
    marker: str
    label: str


#: Tier -> style (high red circles, medium orange squares, low yellow triangles, sinks cyan crosses).
TIER_STYLE = {
    "high": TierStyle("#d62728", "o", "high"),
    "medium": TierStyle("#ff7f0e", "s", "medium"),
    "low": TierStyle("#e6d800", "^", "low"),
    "sinks": TierStyle("#17becf", "X", "sink"),
}


def marker_kwargs(tier: str) -> dict:
    """``color``, ``marker`` and ``label`` of a tier for matplotlib.

    Examples
    --------
    >>> marker_kwargs("medium")
    {'color': '#ff7f0e', 'marker': 's', 'label': 'medium'}
    """
    if tier not in TIER_STYLE:
        raise ValueError(f"`tier` must be one of {list(TIER_STYLE)}, got {tier!r}")
    s = TIER_STYLE[tier]
    return {"color": s.colour, "marker": s.marker, "label": s.label}
