"""Tests of confmap.widgets._figure: the ipympl canvas settings shared by the widgets."""

import pytest
from matplotlib.figure import Figure

from confmap.widgets._figure import TOOLBAR_PX, configure_canvas, toolbar_fraction


def test_the_size_goes_out_with_the_widget():
    """The front end sizes a view from ``_size`` when it renders: it must not wait for the resize
    round trip (which ipympl's front end can drop, leaving a 0 x 0 figure)."""
    import matplotlib.pyplot as plt

    before = plt.get_backend()
    from ipympl import backend_nbagg as backend  # the widgets extra's (an ImportError is a failure)

    plt.switch_backend(before)  # importing ipympl's backend makes it pyplot's: undo that for other tests
    fig = Figure(figsize=(5.0, 4.0), dpi=100)
    canvas = backend.Canvas(fig)
    try:
        assert tuple(canvas._size) == (0, 0)  # ipympl's default until the front end reports back
        configure_canvas(canvas)
        assert tuple(canvas._size) == (500.0, 400.0)
        assert canvas.toolbar_visible == "visible" and canvas.toolbar_position == "left"
        assert canvas.header_visible is False and canvas.resizable is False
    finally:
        canvas.close()


def test_other_canvases_are_left_alone():
    fig = Figure(figsize=(3.0, 2.0))
    configure_canvas(fig.canvas)  # Agg: nothing to set, nothing raised
    assert not hasattr(fig.canvas, "_size")


def test_toolbar_fraction():
    assert toolbar_fraction(6.0) == pytest.approx(TOOLBAR_PX / 600)
    assert toolbar_fraction(1.0) == 0.2
