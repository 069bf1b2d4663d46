"""The paper's evaluation (Weld et al., Sections 3.1-3.2 and the conclusion), exact and vectorised.

Every metric compares a soft confidence map (the *prediction*, values in [0, 1]) with the raters'
*Agreement* map (the mean of binary masks, Section 3.1.1):

============================  ==========================================  =====================
metric                        function                                    paper
============================  ==========================================  =====================
Agreement                     :func:`agreement`                           Sec. 3.1.1
Brier score                   :func:`brier` (whole image / foreground)    Eq. 8
Soft Dice (1 - ratio)         :func:`soft_dice`                           Eq. 9
ROC curve, AUC                :func:`roc_curve`, :func:`roc_auc`          Fig. 3
Joint thresholding            :func:`joint_threshold_scores`              Eqs. 10-13, Fig. 4
Margin uncertainty psi        :func:`psi`                                 Sec. 3.2
Pearson / Spearman, fit       :func:`correlation`, :func:`linear_fit`     Eqs. 14-15, Fig. 5
Reliability diagram, ECE      :func:`reliability`                         Conclusion
Agreement between annotators  :func:`map_agreement`                       (beyond the paper)
Everything for a dataset      :func:`evaluate`, ``plot_*``                Figs. 3-5
============================  ==========================================  =====================

Tolerances
----------
A KDE map is continuous: it is exactly 1 only at its maximum and stays > 0 far beyond the annotation
until floating point underflows. "map > 0", "is 1" and "reaches level t" therefore take explicit
tolerances, so results do not depend on numerical accident. Before any count-based metric (ROC,
joint thresholds, psi, reliability, the Brier foreground) both maps are *snapped*:

* a value ``<= zero_tol`` counts as 0 ("not > 0"),
* a value ``>= 1 - one_tol`` counts as 1 ("is 1"),
* a value reaches level ``t`` when the snapped value is ``>= t - one_tol``.

The defaults are half an 8-bit step, ``0.5 / 255``: the paper's maps were most likely stored as
8-bit images, in which a value rounds to 0 exactly when it is below half a step, and to 255 (= 1)
exactly when it is within half a step of 1. Brier and soft Dice are continuous in the values and use
them unsnapped (Eqs. 8 and 9 exactly). Pass ``zero_tol=0, one_tol=0`` for exact comparisons.

Undefined values
----------------
A metric whose denominator is empty (AUC with a single class, precision with no predicted positive,
psi with no pixel > 0, soft Dice of two empty maps, a correlation of constant or fewer than 3
values) is ``NaN`` with an :class:`UndefinedMetricWarning`. Bad input (NaN or infinite values,
values outside [0, 1], shapes that do not match) raises ``ValueError``.

Layout
------
One private module per section (``_common``, ``_scores``, ``_roc``, ``_joint``, ``_correlation``,
``_calibration``, ``_annotators``, ``_evaluate``, ``_plots``); every public name is re-exported here.
"""

from .._warnings import UndefinedMetricWarning
from ._annotators import map_agreement
from ._calibration import reliability
from ._common import DEFAULT_THRESHOLDS, EIGHT_BIT_HALF_STEP, snap
from ._correlation import correlation, linear_fit, psi
from ._evaluate import evaluate, evaluation_dataset
from ._joint import confusion_counts, joint_threshold_scores
from ._plots import plot_joint_thresholds, plot_margin_correlation, plot_reliability, plot_roc, plot_summary
from ._roc import roc_auc, roc_curve
from ._scores import SCORES, Score, agreement, brier, pairwise_dice, soft_dice

__all__ = [
    "SCORES",
    "Score",
    "DEFAULT_THRESHOLDS",
    "EIGHT_BIT_HALF_STEP",
    "UndefinedMetricWarning",
    "agreement",
    "brier",
    "confusion_counts",
    "correlation",
    "evaluate",
    "evaluation_dataset",
    "joint_threshold_scores",
    "linear_fit",
    "map_agreement",
    "pairwise_dice",
    "plot_joint_thresholds",
    "plot_margin_correlation",
    "plot_reliability",
    "plot_roc",
    "plot_summary",
    "psi",
    "reliability",
    "roc_auc",
    "roc_curve",
    "snap",
    "soft_dice",
]
