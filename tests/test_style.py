"""The one tier style is the one the widgets draw with."""

import pytest

from confmap import TIERS
from confmap.style import TIER_STYLE, marker_kwargs


def test_every_tier_has_one_distinct_style():
    assert list(TIER_STYLE) == list(TIERS)
    assert len({s.colour for s in TIER_STYLE.values()}) == len(TIERS)
    colour, marker, label = TIER_STYLE["high"]
    assert marker_kwargs("high") == {"color": colour, "marker": marker, "label": label}
    with pytest.raises(ValueError, match="`tier`"):
        marker_kwargs("unknown")


def test_widgets_use_it():
    from confmap.widgets import annotator

    assert annotator.TIER_STYLE is TIER_STYLE
