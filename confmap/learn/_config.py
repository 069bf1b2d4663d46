"""Settings of a cross-validation experiment: :class:`CVConfig`, :data:`PRESETS`, the fold split."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .._validation import check_choice, check_int, check_number, describe
from .losses import LOSSES, PAPER_LOSSES
from .unet import UNet

#: Label types: soft = the confidence map, hard = the reference rater's mask.
LABELS = ("soft", "hard")
#: Held-out scores (keys of :data:`confmap.metrics.SCORES`; lower is better for both).
METRICS = ("brier", "soft_dice")
#: How a hard label is chosen (:class:`CVConfig` ``hard_label``).
HARD_LABELS = ("reference", "random", "majority")
#: What a held-out prediction is scored against: the raters' agreement or the phantom's truth.
REFERENCES = ("agreement", "truth")


@dataclass(frozen=True)
class CVConfig:
    """Settings of one cross-validation experiment (everything that changes the numbers).

    Parameters
    ----------
    losses : tuple of str
        Loss names (keys of :data:`confmap.learn.losses.LOSSES`). Default: the paper's five and
        the soft-target-correct ``"tversky_fuzzy"``.
    labels : tuple of str
        Any of ``("soft", "hard")``. Default both.
    n_folds : int
        Number of folds (>= 2), split by image. Default 5 (the paper's).
    epochs : int
        Training epochs per unit. Default 40.
    batch_size : int
        Images per optimiser step. Default 4.
    lr : float
        Adam learning rate, constant. Default 1e-3.
    channels : tuple of int
        UNet widths per level. Default ``(8, 16, 32, 64)`` (paper: 4 levels, widest 64).
    norm : str
        UNet normalisation, ``"batch"``, ``"instance"`` or ``"none"``. Default ``"batch"``.
    seed : int
        Seed of the fold split, the initial weights and the batch order. Default 0.
    hard_label : {"reference", "random", "majority"}
        How the hard label is chosen: the reference rater's mask (the paper's neuroradiologist;
        default), the mask of one rater drawn at random per image (seeded by ``seed``; any rater,
        the reference included), or the strict majority vote (pixels marked by more than half
        of the raters; a tie counts as background).
    """

    losses: tuple = (*PAPER_LOSSES, "tversky_fuzzy")
    labels: tuple = LABELS
    n_folds: int = 5
    epochs: int = 40
    batch_size: int = 4
    lr: float = 1e-3
    channels: tuple = (8, 16, 32, 64)
    norm: str = "batch"
    seed: int = 0
    hard_label: str = "reference"

    def __post_init__(self):
        losses = _check_names("losses", self.losses, tuple(LOSSES))
        labels = _check_names("labels", self.labels, LABELS)
        object.__setattr__(self, "losses", losses)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "n_folds", check_int("n_folds", self.n_folds, minimum=2))
        object.__setattr__(self, "epochs", check_int("epochs", self.epochs, minimum=1))
        object.__setattr__(self, "batch_size", check_int("batch_size", self.batch_size, minimum=1))
        object.__setattr__(self, "lr", check_number("lr", self.lr, minimum=0.0, strict_min=True))
        object.__setattr__(self, "seed", check_int("seed", self.seed, minimum=0))
        check_choice("hard_label", self.hard_label, HARD_LABELS)
        # UNet checks channels and norm
        net = UNet(channels=self.channels, norm=self.norm)
        object.__setattr__(self, "channels", net.channels)

    def to_dict(self) -> dict:
        """The settings as a JSON-serialisable dict.

        ``hard_label`` is left out at its default ("reference"), so that run folders written
        before it existed still resume.
        """
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
        if out["hard_label"] == "reference":
            del out["hard_label"]
        return out


def _check_names(name, value, allowed):
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value:
        raise TypeError(f"`{name}` must be a non-empty sequence of names, got {describe(value)}")
    out = tuple(check_choice(f"{name}[{i}]", v, allowed) for i, v in enumerate(value))
    if len(set(out)) != len(out):
        raise ValueError(f"`{name}` must not repeat a name, got {describe(value)}")
    return out


#: Ready-made experiments of :func:`~confmap.learn.run_experiment` (which describes them): ``dataset``
#: goes to :func:`confmap.phantom.make_dataset`, ``config`` to :class:`CVConfig`.
PRESETS = {
    "quick": {
        "dataset": {"n": 10, "size": (64, 64), "seed": 0},
        "config": {
            "losses": ("bce", "tversky", "tversky_fuzzy"),
            "n_folds": 5,
            "epochs": 15,
            "batch_size": 2,
            "lr": 1e-2,
        },
    },
    "medium": {
        "dataset": {"n": 40, "size": (128, 128), "seed": 0},
        "config": {"n_folds": 5, "epochs": 40, "batch_size": 4, "lr": 3e-3},
    },
    "full": {
        "dataset": {"n": 40, "size": (256, 256), "seed": 0},
        "config": {"n_folds": 5, "epochs": 60, "batch_size": 4, "lr": 3e-3},
    },
}


def kfold_split(n_images: int, *, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Assign every image to one test fold.

    Parameters
    ----------
    n_images : int
        Number of images (>= ``n_folds``).
    n_folds : int, optional
        Number of folds (>= 2). Default 5.
    seed : int, optional
        Seed of the random permutation. Default 0.

    Returns
    -------
    fold : ndarray of int, shape (n_images,)
        ``fold[i]`` is the fold in which image ``i`` is held out; fold sizes differ by at most 1.

    Raises
    ------
    ValueError
        If ``n_images < n_folds`` or ``n_folds < 2``.

    Examples
    --------
    >>> kfold_split(7, n_folds=3, seed=0).tolist()  # doctest: +SKIP
    [2, 0, 1, 0, 2, 1, 0]
    """
    n_folds = check_int("n_folds", n_folds, minimum=2)
    n_images = check_int("n_images", n_images, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    if n_images < n_folds:
        raise ValueError(
            f"`n_images` must be >= `n_folds` ({n_folds}) so that every fold has a test image, got {n_images}"
        )
    order = np.random.default_rng(seed).permutation(n_images)
    fold = np.empty(n_images, dtype=np.int64)
    for k, idx in enumerate(np.array_split(order, n_folds)):
        fold[idx] = k
    return fold
