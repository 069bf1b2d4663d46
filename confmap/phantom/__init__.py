"""Simulated intraoperative ultrasound of brain tumours, simulated raters and a virtual annotator.

The paper's clinical images are private, so every notebook, test and benchmark runs on data made
here (numpy/scipy only, about 0.1 s per 256x256 image):

1. **Geometry** (:class:`Geometry`): a curvilinear sector (default 70 degrees, 50 mm deep, 12 mm
   probe radius) or a linear probe, on square pixels of known spacing in mm.
2. **Ground truth** (:func:`tumour_truth`): an infiltration field ``p`` in [0, 1] around an
   irregular star-shaped core. The 10-90 % width of its margin decides the kind: ``well_defined``
   (~0.3 mm) or ``diffuse`` (1.5-3 mm, with finger-like extensions grown from a smooth random
   field). Necrotic or cystic centres and calcifications are options.
3. **B-mode** (:func:`simulate_bmode`): echogenicity from the tissue map (tumour +6 to +12 dB scaled
   by ``p``; necrosis, cysts, calcifications, sulci), attenuation with time-gain compensation of
   normal brain (acoustic shadows, posterior enhancement), speckle through a separable Gaussian
   point-spread function, log compression and scan conversion (the model in full: docs/phantom.md).
4. **Raters** (:func:`simulate_raters`): each thresholds ``p`` at its own level (a consistent
   per-rater bias plus per-image jitter on the logit) and moves the boundary by a smooth random
   perturbation, then draws one clean filled mask. Rater 0 is the *reference* (like the paper's
   MRI-informed neuroradiologist): unbiased, less jitter.
5. **Virtual confidence annotator** (:func:`virtual_annotator`): the paper's Section 2.2 protocol
   applied to what an expert sees -- high points on the clear core boundary, medium points along
   the outer edge of the fuzzy margin, low points sparsely outside it -- returning a
   :class:`confmap.Annotation`; its confidence map is made by :func:`confmap.confidence_map`.
   Further virtual confidence annotators (``n_annotators``) follow the same protocol on their own
   rays, each point moved by a Gaussian placement error (:func:`jitter_annotation`).
6. :func:`make_dataset` puts ``n`` phantoms in one ``xarray.Dataset`` (the shared data contract), and
   :func:`load_demo` makes (and caches) a small default dataset on demand.

Coordinates follow the package convention: pixel ``(x, y) = (column, row)``, pixel centres on
integers; ``x_mm`` is lateral (0 on the probe axis) and ``y_mm`` is depth below the centre of the
probe face.

Layout: ``_geometry`` (the probe, the model's constants), ``_truth``, ``_bmode``, ``_raters`` (raters and the
virtual annotator), ``_dataset``; :func:`save_dataset`, :func:`load_dataset`, :func:`annotations_from_dataset`
(from :mod:`confmap.dataset`) and :func:`pairwise_dice` (from :mod:`confmap.metrics`) are re-exported here.
"""

from ..dataset import annotations_from_dataset, load_dataset, save_dataset
from ..metrics import pairwise_dice
from ._bmode import simulate_bmode
from ._dataset import Phantom, dataset_phantom, load_demo, make_dataset, make_phantom
from ._geometry import KINDS, SOUND_SPEED_MM_US, VIRTUAL_ANNOTATOR, Geometry
from ._raters import jitter_annotation, simulate_raters, virtual_annotator
from ._truth import tumour_truth

__all__ = [
    "KINDS",
    "SOUND_SPEED_MM_US",
    "VIRTUAL_ANNOTATOR",
    "Geometry",
    "Phantom",
    "annotations_from_dataset",
    "dataset_phantom",
    "jitter_annotation",
    "load_dataset",
    "load_demo",
    "make_dataset",
    "make_phantom",
    "pairwise_dice",
    "save_dataset",
    "simulate_bmode",
    "simulate_raters",
    "tumour_truth",
    "virtual_annotator",
]
