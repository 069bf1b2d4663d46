"""The paper's five training losses, and a soft-target-correct Tversky (Weld et al., Section 3.3).

Every loss is an ``nn.Module`` whose ``forward(input, target)`` takes ``(B, 1, H, W)`` tensors of
**probabilities** ``p`` (the UNet's sigmoid output) and targets ``y`` in [0, 1] (a soft confidence
map or a hard 0/1 mask) and returns a scalar. The formulas are the paper's, in its notation
(``n`` pixels of one image):

=============  =====================================================================  ========
name           formula                                                                paper
=============  =====================================================================  ========
``brier``      mean (p - y)^2                                                         Eq. 8
``dice``       1 - 2 Σ p y / (Σ p^2 + Σ y^2)                                          Eq. 9
``bce``        -mean [y log p + (1 - y) log(1 - p)]                                   Eq. 16
``huber``      mean 0.5 (p - y)^2 if abs(p - y) < δ else δ (abs(p - y) - 0.5 δ); δ=1  Eq. 17
``tversky``    1 - Σ p y / (Σ p y + α Σ p (1 - y) + β Σ y (1 - p)); α=0.3, β=0.7      Eq. 18
``tversky_fuzzy``  Eq. 18 with fuzzy-set counts: TP = Σ min(p, y), FP = Σ (p - y)+,     this
               FN = Σ (y - p)+                                                        package
=============  =====================================================================  ========

Soft targets
------------
A loss fit for soft labels must be smallest, over predictions, at ``p == y``. Brier, BCE (a proper
scoring rule: ``-y log p - (1-y) log(1-p)`` is minimal at ``p = y``), Huber and the soft Dice with
*squared* denominators (``Σp² + Σy² - 2Σpy = Σ(p - y)² >= 0``, so the ratio is <= 1 with equality
only at ``p = y``) are. The paper's Tversky (Eq. 18) with its *linear* counts is not: for one pixel
with ``y = 0.5`` its ratio is ``0.5 p / (0.3 p + 0.35)``, increasing in ``p``, so the loss is
lowest at ``p = 1``, not 0.5 (loss 0.231 vs 0.5 at ``p = 0.5``). Trained on confidence maps it
pushes every partially-confident pixel towards 1.

:class:`FuzzyTverskyLoss` fixes this without changing the hard-label case: it counts true
positives, false positives and false negatives with fuzzy-set operations, ``TP = Σ min(p, y)``,
``FP = Σ max(p - y, 0)``, ``FN = Σ max(y - p, 0)``. For ``y`` in {0, 1} these equal Eq. 18's
``Σ p y``, ``Σ p (1 - y)`` and ``Σ y (1 - p)`` exactly (so hard-label training is unchanged), while
for any soft ``y`` the ratio is <= 1 with equality iff ``p == y`` (FP = FN = 0), so ``p == y`` is
the unique minimum. This is the Tversky index of fuzzy sets, the same construction as the
soft-label-compatible Dice/Jaccard losses of Wang & Blaschko (2023), who write
``Σ min(p, y) = (Σp + Σy - Σ|p - y|) / 2``.

Reductions: Brier, BCE and Huber average over every pixel of the batch (the ``torch.nn`` built-ins'
``reduction="mean"``); Dice and Tversky compute one ratio per image and average over the batch.
``smooth`` (default 1e-6) is added to the numerator and denominator of the ratio losses so that an
empty target and empty prediction give 0, not NaN; it does not move the minimum.

References
----------
Salehi, Erdoğmuş, Gholipour, "Tversky loss function for image segmentation using 3D fully
convolutional deep networks", MLMI 2017. Wang, Blaschko, "Jaccard metric losses: optimizing the
Jaccard index with soft labels", NeurIPS 2023, and "Dice semimetric losses: optimizing the Dice
score with soft labels", MICCAI 2023.
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_choice, check_number, check_type

__all__ = [
    "LOSSES",
    "LOSS_LABELS",
    "PAPER_LOSSES",
    "BCELoss",
    "BrierLoss",
    "FuzzyTverskyLoss",
    "HuberLoss",
    "SoftDiceLoss",
    "TverskyLoss",
    "make_loss",
]


def _check_pair(input, target) -> None:
    for name, t in (("input", input), ("target", target)):
        check_type(name, t, torch.Tensor, "a torch.Tensor")
        if t.ndim != 4 or t.shape[1] != 1:
            raise ValueError(f"`{name}` must have shape (B, 1, H, W), got {tuple(t.shape)}")
    if input.shape != target.shape:
        raise ValueError(
            f"`input` and `target` must have the same shape, got {tuple(input.shape)} and {tuple(target.shape)}"
        )


class _Loss(nn.Module):
    """Shared shape check; subclasses implement ``_loss``."""

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of probabilities ``input`` against targets ``target``, both ``(B, 1, H, W)``."""
        _check_pair(input, target)
        return self._loss(input, target.to(input.dtype))

    def _loss(self, p, y):  # pragma: no cover - abstract
        raise NotImplementedError


class BrierLoss(_Loss):
    """Brier score, mean squared error of probabilities (paper Eq. 8).

    Notes
    -----
    ``mean((p - y)**2)`` over all pixels of the batch; equals ``torch.nn.MSELoss()``. Minimal at
    ``p == y`` for soft targets.

    Examples
    --------
    >>> import torch
    >>> BrierLoss()(torch.full((1, 1, 2, 2), 0.5), torch.ones(1, 1, 2, 2)).item()
    0.25
    """

    def _loss(self, p, y):
        return torch.mean((p - y) ** 2)


class SoftDiceLoss(_Loss):
    """Soft Dice loss with squared denominators (paper Eq. 9), one ratio per image.

    Parameters
    ----------
    smooth : float, optional
        Added to numerator and denominator (>= 0). Default 1e-6.

    Notes
    -----
    ``1 - (2 Σ p y + s) / (Σ p² + Σ y² + s)`` per image, mean over the batch. Minimal (0) at
    ``p == y`` for soft targets because ``Σp² + Σy² - 2Σpy = Σ(p - y)²``.

    Examples
    --------
    >>> import torch
    >>> y = torch.rand(2, 1, 8, 8)
    >>> round(SoftDiceLoss()(y, y).item(), 6)
    0.0
    """

    def __init__(self, *, smooth: float = 1e-6):
        super().__init__()
        self.smooth = check_number("smooth", smooth, minimum=0.0)

    def _loss(self, p, y):
        num = 2.0 * (p * y).sum(dim=(1, 2, 3)) + self.smooth
        den = (p * p).sum(dim=(1, 2, 3)) + (y * y).sum(dim=(1, 2, 3)) + self.smooth
        return torch.mean(1.0 - num / den)

    def extra_repr(self) -> str:
        return f"smooth={self.smooth}"


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities (paper Eq. 16).

    Notes
    -----
    ``-mean(y log p + (1 - y) log(1 - p))``; each log is clamped at -100 as in
    ``torch.nn.BCELoss``, which it equals for ``p`` and ``1 - p`` that are 0 or at least the
    smallest normal float (the gradient stays finite, and is 0 where a log is clamped). Minimal
    at ``p == y`` (a proper scoring rule); its minimum value for soft targets is the binary
    entropy of ``y``, not 0.

    Examples
    --------
    >>> import torch
    >>> round(BCELoss()(torch.full((1, 1, 1, 1), 0.5), torch.ones(1, 1, 1, 1)).item(), 6)
    0.693147
    """

    def _loss(self, p, y):
        return -torch.mean(y * _log_clamped(p) + (1.0 - y) * _log_clamped(1.0 - p))


def _log_clamped(x):
    """``max(log x, -100)`` with finite gradients also at ``x == 0`` (there the gradient is 0)."""
    tiny = torch.finfo(x.dtype).tiny
    return torch.where(x > 0, torch.log(x.clamp_min(tiny)), -100.0).clamp_min(-100.0)


class HuberLoss(_Loss):
    """Huber loss (paper Eq. 17), δ = 1 by default.

    Parameters
    ----------
    delta : float, optional
        Threshold between the quadratic and the linear part (> 0). Default 1 (the paper's).

    Notes
    -----
    ``mean(0.5 d² if |d| < δ else δ (|d| - 0.5 δ))`` with ``d = p - y``; equals
    ``torch.nn.HuberLoss(delta=δ)``. With δ = 1 the paper writes the linear branch ``|d| - 0.5``.
    Because ``p`` and ``y`` lie in [0, 1], ``|d| <= 1`` and with δ = 1 the loss is exactly half
    the Brier loss; with a scale-invariant optimiser such as Adam the two train almost identically.

    Examples
    --------
    >>> import torch
    >>> HuberLoss()(torch.zeros(1, 1, 1, 2), torch.tensor([[[[1.0, 0.5]]]])).item()
    0.3125
    """

    def __init__(self, *, delta: float = 1.0):
        super().__init__()
        self.delta = check_number("delta", delta, minimum=0.0, strict_min=True)

    def _loss(self, p, y):
        d = torch.abs(p - y)
        quad = 0.5 * d * d
        lin = self.delta * (d - 0.5 * self.delta)
        return torch.mean(torch.where(d < self.delta, quad, lin))

    def extra_repr(self) -> str:
        return f"delta={self.delta}"


class TverskyLoss(_Loss):
    """Tversky loss exactly as the paper writes it (Eq. 18), one ratio per image.

    Parameters
    ----------
    alpha : float, optional
        Weight of the false positives ``Σ p (1 - y)`` (>= 0). Default 0.3.
    beta : float, optional
        Weight of the false negatives ``Σ y (1 - p)`` (>= 0). Default 0.7.
    smooth : float, optional
        Added to numerator and denominator (>= 0). Default 1e-6.

    Notes
    -----
    ``1 - (Σ p y + s) / (Σ p y + α Σ p (1 - y) + β Σ y (1 - p) + s)``, mean over the batch.
    **Not minimal at** ``p == y`` **for soft targets**: for ``y = 0.5`` everywhere it is lowest
    at ``p = 1``. Use :class:`FuzzyTverskyLoss` for soft labels; see the module docstring.

    Examples
    --------
    >>> import torch
    >>> y = torch.full((1, 1, 1, 1), 0.5)
    >>> loss = TverskyLoss()
    >>> bool(loss(torch.full_like(y, 1.0), y) < loss(y, y))
    True
    """

    def __init__(self, *, alpha: float = 0.3, beta: float = 0.7, smooth: float = 1e-6):
        super().__init__()
        self.alpha = check_number("alpha", alpha, minimum=0.0)
        self.beta = check_number("beta", beta, minimum=0.0)
        self.smooth = check_number("smooth", smooth, minimum=0.0)

    def _counts(self, p, y):  # TP, FP, FN terms per pixel
        return p * y, p * (1.0 - y), y * (1.0 - p)

    def _loss(self, p, y):
        tp, fp, fn = (c.sum(dim=(1, 2, 3)) for c in self._counts(p, y))
        ratio = (tp + self.smooth) / (tp + self.alpha * fp + self.beta * fn + self.smooth)
        return torch.mean(1.0 - ratio)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}, smooth={self.smooth}"


class FuzzyTverskyLoss(TverskyLoss):
    """Soft-target-correct Tversky loss: Eq. 18 with fuzzy-set counts.

    Parameters
    ----------
    alpha, beta, smooth : float, optional
        As in :class:`TverskyLoss` (defaults 0.3, 0.7, 1e-6).

    Notes
    -----
    ``TP = Σ min(p, y)``, ``FP = Σ max(p - y, 0)``, ``FN = Σ max(y - p, 0)``; identical to
    :class:`TverskyLoss` for hard targets ``y`` in {0, 1}, and for soft targets its unique
    minimum (0, when ``Σ y > 0``) is at ``p == y``. See the module docstring for the reasoning.

    Examples
    --------
    >>> import torch
    >>> y = torch.full((1, 1, 1, 1), 0.5)
    >>> loss = FuzzyTverskyLoss()
    >>> bool(loss(y, y) < loss(torch.ones_like(y), y))
    True
    """

    def _counts(self, p, y):
        return torch.minimum(p, y), torch.clamp(p - y, min=0.0), torch.clamp(y - p, min=0.0)


#: Loss name -> class; the first five are the paper's Table 1 rows in its order.
LOSSES = {
    "brier": BrierLoss,
    "dice": SoftDiceLoss,
    "bce": BCELoss,
    "huber": HuberLoss,
    "tversky": TverskyLoss,
    "tversky_fuzzy": FuzzyTverskyLoss,
}
#: The five losses of the paper's Table 1.
PAPER_LOSSES = ("brier", "dice", "bce", "huber", "tversky")
#: Display names for tables (the paper's row labels).
LOSS_LABELS = {
    "brier": "Brier",
    "dice": "Soft Dice",
    "bce": "Binary Cross Entropy",
    "huber": "Huber",
    "tversky": "Tversky",
    "tversky_fuzzy": "Tversky (fuzzy, soft-correct)",
}


def make_loss(name: str) -> nn.Module:
    """Return a new loss module by name (a key of :data:`LOSSES`) with the paper's parameters.

    Raises
    ------
    ValueError
        If ``name`` is not a known loss.

    Examples
    --------
    >>> make_loss("huber")
    HuberLoss(delta=1.0)
    """
    return LOSSES[check_choice("name", name, tuple(LOSSES))]()
