"""Soft-label learning with torch (Weld et al., Section 3.3, Table 1).

This subpackage is the only place in confmap that imports torch: ``import confmap`` stays light,
``import confmap.learn`` needs ``pip install confmap[learn]``.

- :class:`UNet`: the paper's compact UNet (4 levels, widest layer 64, sigmoid output).
- Losses (``forward(input, target)`` on ``(B, 1, H, W)`` probabilities): :class:`BrierLoss`
  (Eq. 8), :class:`SoftDiceLoss` (Eq. 9), :class:`BCELoss` (Eq. 16), :class:`HuberLoss` (Eq. 17),
  :class:`TverskyLoss` (Eq. 18, as written; not minimal at prediction == target for soft targets)
  and :class:`FuzzyTverskyLoss` (soft-target-correct).
- :func:`cross_validate` / :func:`run_experiment`: k-fold CV by image, soft vs hard labels, scored
  with :mod:`confmap.metrics`; :func:`table1`, :func:`soft_wins`, :func:`plot_folds`,
  :func:`plot_predictions`.
- :func:`paired_differences` / :func:`paired_test`: per-image soft - hard differences with a
  bootstrap interval and a paired Wilcoxon test, beside the fold win counts.
"""

from ._config import LABELS, PRESETS, CVConfig, kfold_split
from ._cv import (
    assemble_results,
    cross_validate,
    cv_units,
    prepare_out_dir,
    run_experiment,
    train_unit,
    unit_name,
)
from ._plots import plot_folds, plot_predictions
from ._train import train_network
from .losses import (
    LOSS_LABELS,
    LOSSES,
    PAPER_LOSSES,
    BCELoss,
    BrierLoss,
    FuzzyTverskyLoss,
    HuberLoss,
    SoftDiceLoss,
    TverskyLoss,
    make_loss,
)
from .stats import paired_differences, paired_test, soft_wins, table1
from .unet import UNet

__all__ = [
    "LABELS",
    "LOSSES",
    "LOSS_LABELS",
    "PAPER_LOSSES",
    "PRESETS",
    "BCELoss",
    "BrierLoss",
    "CVConfig",
    "FuzzyTverskyLoss",
    "HuberLoss",
    "SoftDiceLoss",
    "TverskyLoss",
    "UNet",
    "assemble_results",
    "cross_validate",
    "cv_units",
    "kfold_split",
    "make_loss",
    "paired_differences",
    "paired_test",
    "plot_folds",
    "plot_predictions",
    "prepare_out_dir",
    "run_experiment",
    "soft_wins",
    "table1",
    "train_network",
    "train_unit",
    "unit_name",
]
