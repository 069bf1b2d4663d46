"""Fixtures shared by several test files (each file keeps the ones only it needs)."""

import numpy as np
import pytest

from confmap import Annotation


@pytest.fixture
def rng():
    """A seeded generator: every test that draws random numbers starts from the same state."""
    return np.random.default_rng(0)


@pytest.fixture
def tiered_annotation():
    """A small annotation with every weighted tier and a sink, on a 60 x 80 image (points (x, y))."""
    return Annotation(
        (60, 80),
        high=[(30, 20), (50, 22), (40, 40)],
        medium=[(20, 10), (60, 12), (62, 50), (18, 48)],
        low=[(10, 5), (70, 5), (72, 56), (8, 55)],
        sinks=[(41, 27)],
    )


@pytest.fixture(scope="session")
def tiny_phantoms():
    """Two simulated 32 x 32 images with raters and annotations (the dataset contract); read-only."""
    from confmap.phantom import make_dataset

    return make_dataset(2, seed=0, size=(32, 32), progress=False)
