"""Parameter sweeps of the confidence-map construction, their best setting and their landscape.

The paper's tunable parameters are ``[lambda, beta_H, beta_M, beta_L, sigma]`` (Section 2.3);
here the region mode (convex Delaunay or a carved alpha shape, with alpha) can be swept too.
:func:`sweep` evaluates every combination against an agreement map (the paper's *Agreement*,
Section 3.1.1) and/or a ground-truth field with the Brier score (Eq. 8, whole image and foreground)
and the soft Dice (Eq. 9), and returns an ``xarray.Dataset`` with one dimension per swept
parameter; :func:`best` picks the best setting and :func:`plot_sweep` draws the landscape.

Work is shared between settings where the construction allows: the tier regions depend only on
the region mode (and alpha), the grid's tier membership only on the regions and lambda, the grid
weights (Eq. 5) are a linear combination of that membership and the betas, and only the kernel
covariance and the KDE depend on the bandwidth. Every map equals
:func:`confmap.confidence_map` with the same parameters exactly.

Layout: ``_run`` (:func:`sweep`), ``_best`` (:func:`best`, :func:`setting_kwargs`), ``_plot`` (:func:`plot_sweep`).
"""

from ._best import best, setting_kwargs
from ._plot import plot_sweep
from ._run import METRICS, PARAMETERS, sweep

__all__ = ["METRICS", "PARAMETERS", "best", "plot_sweep", "setting_kwargs", "sweep"]
