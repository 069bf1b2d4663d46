"""Parameter sweeps of the confidence-map construction, their best setting and their landscape.

The paper's tunable parameters are ``[lambda, beta_H, beta_M, beta_L, sigma]`` (Section 2.3);
here the region mode (convex Delaunay or a carved alpha shape, with alpha) can be swept too.
:func:`sweep` (``_run``) scores every combination against an agreement map and/or a ground truth,
:func:`best` (``_best``, with :func:`setting_kwargs`) picks the best setting and :func:`plot_sweep`
(``_plot``) draws the landscape.

Work is shared between settings where the construction allows: the tier regions depend only on
the region mode (and alpha), the grid's tier membership only on the regions and lambda, the grid
weights (Eq. 5) are a linear combination of that membership and the betas, and only the kernel
covariance and the KDE depend on the bandwidth. Every map equals
:func:`confmap.confidence_map` with the same parameters exactly.
"""

from ._best import best, setting_kwargs
from ._plot import plot_sweep
from ._run import METRICS, PARAMETERS, sweep

__all__ = ["METRICS", "PARAMETERS", "best", "plot_sweep", "setting_kwargs", "sweep"]
