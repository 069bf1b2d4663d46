"""One phantom, a dataset of phantoms (the dataset contract), and the cached demo dataset."""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validation import check_choice, check_image_shape, check_int, check_number, check_type, progress_bar
from ..annotation import Annotation
from ..construct import MapParams, RippleWarning, confidence_map
from ..dataset import build_dataset, load_dataset, save_dataset
from ._bmode import simulate_bmode
from ._geometry import KINDS, RATER_BIAS_SD, VIRTUAL_ANNOTATOR, Geometry
from ._raters import draw_rater_biases, jitter_annotation, simulate_raters, virtual_annotator
from ._truth import tumour_truth


@dataclass
class Phantom:
    """One simulated image with its truth, raters and virtual annotation (see :func:`make_phantom`)."""

    bmode: np.ndarray
    truth: np.ndarray
    masks: np.ndarray
    confidence: np.ndarray
    sector: np.ndarray
    annotation: Annotation
    kind: str
    margin_mm: float
    features: dict
    loss_db: np.ndarray
    #: Annotations of the further virtual confidence annotators (1, 2, ...), and their maps
    #: ``(n_annotators - 1, H, W)``; empty with one annotator.
    extra_annotations: list = field(default_factory=list)
    extra_confidence: np.ndarray | None = None


def _confidence(ann, params):
    with warnings.catch_warnings():
        # The lattice ripple of the paper's parameters at 256 px is a property of the method,
        # reported in the map's attrs; it is not a problem of the phantom.
        warnings.simplefilter("ignore", RippleWarning)
        cm = confidence_map(ann, params=params)
    return np.asarray(cm.values, dtype=np.float64)


def make_phantom(
    seed,
    *,
    kind: str = "well_defined",
    geometry: Geometry | None = None,
    n_raters: int = 4,
    reference: int = 0,
    rater_biases=None,
    freq_mhz: float = 7.0,
    params=None,
    rater_boundary_factor: float = 1.0,
    n_annotators: int = 1,
    annotator_sd_mm: float = 0.5,
    **truth_options,
) -> Phantom:
    """One phantom: B-mode image, truth, rater masks, virtual annotation and its confidence map.

    Parameters
    ----------
    seed : int or SeedSequence
        The same seed gives the same phantom (a Generator cannot be split into the phantom's
        independent streams reproducibly, so it is refused with a TypeError).
    kind : {"well_defined", "diffuse"}
        Tumour margin type.
    geometry : Geometry, optional
        Default ``Geometry()`` (256x256 curvilinear sector).
    n_raters, reference, rater_biases
        See :func:`simulate_raters`.
    freq_mhz : float, default 7
        See :func:`simulate_bmode`.
    params : confmap.MapParams or mapping, optional
        Parameters of the confidence maps (default: the paper's, ``MapParams()``); a mapping of
        its fields is converted (:meth:`~confmap.MapParams.coerce`).
    rater_boundary_factor : float, default 1
        ``boundary_factor`` of :func:`simulate_raters`.
    n_annotators : int, default 1
        Virtual confidence annotators. Annotator 0 is the protocol annotator (``annotation``,
        ``confidence``); each further one follows the same protocol on its own rays and moves
        every point by its own Gaussian placement error of ``annotator_sd_mm`` per axis
        (:func:`jitter_annotation`), from its own seed: ``extra_annotations``,
        ``extra_confidence``. Adding annotators leaves everything else unchanged.
    annotator_sd_mm : float, default 0.5
        Placement error of the further annotators (mm, per axis).
    **truth_options
        ``margin_mm``, ``necrosis``, ``cyst``, ``calcification`` of :func:`tumour_truth`.

    Returns
    -------
    Phantom
    """
    geometry = Geometry() if geometry is None else geometry
    check_type("geometry", geometry, Geometry, "a confmap.phantom.Geometry")
    if not isinstance(seed, np.random.SeedSequence):
        seed = np.random.SeedSequence(check_int("seed", seed, minimum=0))
    s_truth, s_bmode, s_raters, s_ann = seed.spawn(4)
    truth = tumour_truth(geometry, s_truth, kind=kind, **truth_options)
    sim = simulate_bmode(geometry, truth, s_bmode, freq_mhz=freq_mhz)
    sp = geometry.spacing_mm
    masks = simulate_raters(
        truth,
        s_raters,
        n_raters=n_raters,
        reference=reference,
        biases=rater_biases,
        spacing_mm=sp,
        boundary_factor=rater_boundary_factor,
    )
    ann = virtual_annotator(truth, s_ann, spacing_mm=sp, loss_db=sim["loss_db"], image=sim["bmode"])
    params = MapParams.coerce(params)
    conf = _confidence(ann, params)
    n_annotators = check_int("n_annotators", n_annotators, minimum=1)
    extra = []
    for k, s_k in enumerate(seed.spawn(n_annotators - 1), start=1):  # after the first 4: unchanged
        s_place, s_jitter = s_k.spawn(2)
        a = virtual_annotator(truth, s_place, spacing_mm=sp, loss_db=sim["loss_db"], image=sim["bmode"])
        a = jitter_annotation(a, s_jitter, sd_mm=annotator_sd_mm, spacing_mm=sp)
        extra.append(a.replace(annotator=f"{VIRTUAL_ANNOTATOR} #{k}"))
    return Phantom(
        bmode=sim["bmode"],
        truth=truth["p"],
        masks=masks,
        confidence=conf,
        sector=truth["sector"],
        annotation=ann,
        kind=kind,
        margin_mm=truth["margin_mm"],
        features={k: truth[k] for k in ("necrosis", "cyst", "calcification")},
        loss_db=sim["loss_db"],
        extra_annotations=extra,
        extra_confidence=np.stack([_confidence(a, params) for a in extra]) if extra else None,
    )


def make_dataset(
    n: int,
    *,
    seed: int,
    size=(256, 256),
    kinds: Sequence[str] = ("well_defined", "diffuse"),
    n_raters: int = 4,
    reference_rater: int = 0,
    probe: str = "curvilinear",
    freq_mhz: float = 7.0,
    params=None,
    progress: bool | None = None,
    rater_bias_sd: float = RATER_BIAS_SD,
    rater_boundary_factor: float = 1.0,
    n_annotators: int = 1,
    annotator_sd_mm: float = 0.5,
    **truth_options,
):
    """A dataset of ``n`` phantoms in the shared data contract.

    Parameters
    ----------
    n : int
        Number of images (>= 1).
    seed : int
        Non-negative; the same seed (and options) gives the same dataset, and image ``i`` does not
        depend on ``n``.
    size : (int, int), default (256, 256)
        Image shape ``(H, W)``.
    kinds : sequence of {"well_defined", "diffuse"}, default both
        Image ``i`` gets ``kinds[i % len(kinds)]``.
    n_raters : int, default 4
        Simulated raters per image.
    reference_rater : int, default 0
        The less-biased reference rater (like the paper's neuroradiologist).
    probe : {"curvilinear", "linear"}, default "curvilinear"
        See :class:`Geometry`.
    freq_mhz : float, default 7
        Probe centre frequency.
    params : confmap.MapParams or mapping, optional
        Parameters of the virtual annotators' confidence maps, as in :func:`make_phantom`.
    progress : bool, optional
        Show a tqdm progress bar (default: when ``n >= 10``).
    rater_bias_sd : float, default 1.2
        Spread of the raters' consistent logit biases (0: every rater unbiased).
    rater_boundary_factor : float, default 1
        Scales the raters' smooth boundary perturbation (:func:`simulate_raters`).
    n_annotators : int, default 1
        Virtual confidence annotators per image (see :func:`make_phantom`). With more than one,
        the dataset gains ``annotator_confidence`` (image, annotator, y, x), whose annotator 0
        is ``confidence``, and the attributes ``n_annotators`` and ``annotator_sd_mm``.
    annotator_sd_mm : float, default 0.5
        Placement error of annotators 1, 2, ... (mm per axis).
    **truth_options
        ``margin_mm``, ``necrosis``, ``cyst``, ``calcification`` (see :func:`tumour_truth`).

    Returns
    -------
    xarray.Dataset
        Dims ``image``, ``rater``, ``y``, ``x``, ``point``. Variables: ``bmode`` (image, y, x)
        float32 in [0, 1]; ``truth`` (image, y, x) in [0, 1]; ``masks`` (image, rater, y, x) uint8;
        ``agreement`` (image, y, x) = mean of masks over raters; ``confidence`` (image, y, x) in
        [0, 1]; ``sector`` (image, y, x) bool; ``point_x``, ``point_y`` (image, point) float, NaN
        padded; ``point_tier`` (image, point) str (``""`` padding); ``loss_db`` (image, y, x).
        Coordinates ``image``, ``kind``, ``margin_mm``, ``necrosis``, ``cyst``, ``calcification``
        (per image), ``rater``, ``y``, ``x`` (pixels), ``y_mm``, ``x_mm``. Attributes
        ``reference_rater``, ``spacing_mm`` ``[dy, dx]``, ``rater_biases``, ``seed``, ``probe``,
        ``freq_mhz``.

    Examples
    --------
    >>> from confmap.phantom import make_dataset
    >>> ds = make_dataset(2, seed=0, size=(96, 96))
    >>> ds.masks.shape, [str(k) for k in ds.kind.values]
    ((2, 4, 96, 96), ['well_defined', 'diffuse'])
    """
    n = check_int("n", n, minimum=1)
    seed, geometry, biases, image = _dataset_images(
        seed, size, kinds, n_raters, reference_rater, probe, freq_mhz, params, rater_bias_sd
    )
    phantoms = [
        image(
            i,
            rater_boundary_factor=rater_boundary_factor,
            n_annotators=n_annotators,
            annotator_sd_mm=annotator_sd_mm,
            **truth_options,
        )
        for i in progress_bar(range(n), progress, desc="phantoms")
    ]
    extra_attrs = {}  # only what differs from the defaults, so default datasets stay identical
    if rater_bias_sd != RATER_BIAS_SD:
        extra_attrs["rater_bias_sd"] = float(rater_bias_sd)
    if rater_boundary_factor != 1.0:
        extra_attrs["rater_boundary_factor"] = float(rater_boundary_factor)
    if n_annotators > 1:
        extra_attrs.update(n_annotators=int(n_annotators), annotator_sd_mm=float(annotator_sd_mm))
    return _to_dataset(phantoms, geometry, biases, reference_rater, seed, freq_mhz, extra_attrs)


def dataset_phantom(
    i: int,
    *,
    seed: int,
    size=(256, 256),
    kinds: Sequence[str] = ("well_defined", "diffuse"),
    n_raters: int = 4,
    reference_rater: int = 0,
    probe: str = "curvilinear",
    freq_mhz: float = 7.0,
    params=None,
    **truth_options,
) -> Phantom:
    """Image ``i`` of ``make_dataset(n, seed=seed, ...)`` alone (for any ``n > i``), as a Phantom.

    Lets a large dataset be made one image at a time (or by many workers: see
    :func:`confmap.batch.make_phantom_folder`) without holding it in memory.

    Parameters
    ----------
    i : int
        Image index (>= 0).
    seed, size, kinds, n_raters, reference_rater, probe, freq_mhz, params, **truth_options
        As in :func:`make_dataset`.

    Returns
    -------
    Phantom
        Identical to image ``i`` of :func:`make_dataset` with the same arguments.
    """
    i = check_int("i", i, minimum=0)
    *_, image = _dataset_images(seed, size, kinds, n_raters, reference_rater, probe, freq_mhz, params)
    return image(i, **truth_options)


def _to_dataset(phantoms, geometry, biases, reference_rater, seed, freq_mhz, extra_attrs):
    sp = geometry.spacing_mm

    def stack(name, dtype=None):
        return np.asarray(np.stack([getattr(ph, name) for ph in phantoms]), dtype=dtype)

    return build_dataset(
        stack("bmode"),
        stack("masks"),
        annotations=[ph.annotation for ph in phantoms],
        confidence=stack("confidence"),
        truth=stack("truth"),
        sector=stack("sector"),
        spacing=(sp, sp),
        origin=(float(geometry.y_mm[0]), float(geometry.x_mm[0])),
        mm_names=("depth below the probe face", "lateral position"),
        image_coords={
            "kind": np.array([ph.kind for ph in phantoms], dtype="<U16"),
            "margin_mm": (np.array([ph.margin_mm for ph in phantoms]), {"units": "mm"}),
            **{f: np.array([ph.features[f] for ph in phantoms]) for f in ("necrosis", "cyst", "calcification")},
        },
        data_vars={
            "loss_db": (
                ("image", "y", "x"),
                stack("loss_db", np.float32),
                {"long_name": "uncompensated attenuation loss", "units": "dB"},
            ),
            **_annotator_vars(phantoms),
        },
        attrs={
            "title": "confmap simulated intraoperative ultrasound phantom",
            "reference_rater": int(reference_rater),
            "rater_biases": [float(b) for b in biases],
            "seed": int(seed),
            "probe": geometry.probe,
            "freq_mhz": float(freq_mhz),
            "annotator": VIRTUAL_ANNOTATOR,
            **extra_attrs,
        },
    )


def _annotator_vars(phantoms):
    if phantoms[0].extra_confidence is None:
        return {}
    maps = np.stack([np.concatenate([ph.confidence[None], ph.extra_confidence]) for ph in phantoms])
    return {
        "annotator_confidence": (
            ("image", "annotator", "y", "x"),
            maps,
            {"long_name": "confidence maps of the virtual confidence annotators (0: `confidence`)"},
        )
    }


def _cache_dir() -> Path:
    if os.environ.get("CONFMAP_CACHE"):
        return Path(os.environ["CONFMAP_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "confmap"


def load_demo(n: int = 12, *, seed: int = 0, size=(256, 256), cache: bool = True, progress=None):
    """The small default phantom dataset, made on demand and cached as NetCDF.

    Parameters
    ----------
    n : int, default 12
        Images (alternating well-defined and diffuse).
    seed : int, default 0
    size : (int, int), default (256, 256)
    cache : bool, default True
        Keep a copy in ``$CONFMAP_CACHE`` (or ``$XDG_CACHE_HOME/confmap``, ``~/.cache/confmap``)
        and read it next time. With ``False`` the dataset is only made in memory.
    progress : bool, optional
        See :func:`make_dataset`.

    Returns
    -------
    xarray.Dataset
        As :func:`make_dataset` ``(n, seed=seed, size=size)``.
    """
    n = check_int("n", n, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    size = check_image_shape("size", size)
    if not cache:
        return make_dataset(n, seed=seed, size=size, progress=progress)
    key = hashlib.sha256(f"{_VERSION}|{n}|{seed}|{size}".encode()).hexdigest()[:12]
    path = _cache_dir() / f"phantom_demo_{n}x{size[0]}x{size[1]}_s{seed}_{key}.nc"
    if path.exists():
        with contextlib.suppress(OSError, ValueError):  # unreadable cache: make it again
            return load_dataset(path)
    ds = make_dataset(n, seed=seed, size=size, progress=progress)
    with contextlib.suppress(OSError):  # a read-only cache is not an error
        save_dataset(ds, path)
    return ds


# Bump when the simulation changes, so cached demo datasets are made again.
_VERSION = "phantom-2"


def _dataset_images(seed, size, kinds, n_raters, reference_rater, probe, freq_mhz, params, bias_sd=RATER_BIAS_SD):
    """Check the arguments shared by :func:`make_dataset` and :func:`dataset_phantom`; return the seed,
    the geometry, the raters' biases and ``image(i, **options)``, image ``i`` of the dataset (a Phantom)."""
    seed = check_int("seed", seed, minimum=0)
    size = check_image_shape("size", size)
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds:
        raise ValueError("`kinds` must name at least one kind, got an empty sequence")
    for k in kinds:
        check_choice("kinds[...]", k, tuple(KINDS))
    n_raters = check_int("n_raters", n_raters, minimum=1)
    reference_rater = check_int("reference_rater", reference_rater, minimum=0, maximum=n_raters - 1)
    params = MapParams.coerce(params)
    geometry = Geometry(size=size, probe=probe)
    bias_sd = check_number("rater_bias_sd", bias_sd, minimum=0.0)
    # SeedSequence(seed).spawn(2) gives (dataset, images), and image i is images.spawn(n)[i]
    s_dataset = np.random.SeedSequence(seed, spawn_key=(0,))
    biases = draw_rater_biases(n_raters, reference_rater, np.random.default_rng(s_dataset), sd=bias_sd)

    def image(i, **options):
        return make_phantom(
            np.random.SeedSequence(seed, spawn_key=(1, i)),
            kind=kinds[i % len(kinds)],
            geometry=geometry,
            n_raters=n_raters,
            reference=reference_rater,
            rater_biases=biases,
            freq_mhz=freq_mhz,
            params=params,
            **options,
        )

    return seed, geometry, biases, image
