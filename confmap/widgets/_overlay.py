"""Plain functions shared by the widgets: the map overlay's colours, the display grid, the status line.

No widget state here, so each piece is tested on its own (tests/test_widgets_annotator.py checks
:func:`blend` against an independent computation).

The overlay
-----------
The map is shown as a colour whose *opacity rises with the confidence*: a pixel of map value
``v`` gets ``alpha = opacity * v`` of the colour-mapped ``v`` (a perceptual colour map, default
``"viridis"``) over the image. Where the map is 0 the image shows through unchanged, where it is 1
the colour covers ``opacity`` of the pixel. Unlike a constant-alpha blend (where confidence 1 over a
dark lesion reads as a dark olive patch), the most confident pixels are the most covered, in the
brightest colour of the map, whatever the image's brightness there.
"""

from __future__ import annotations

import html

import numpy as np

from ..style import TIER_STYLE

#: Levels of the optional iso-contours of the map, and their matplotlib line styles.
CONTOUR_LEVELS = (0.25, 0.5, 0.75)
CONTOUR_STYLES = ("dotted", "dashed", "solid")

_SYMBOLS = {"o": "&#9679;", "s": "&#9632;", "^": "&#9650;", "X": "&#10006;"}
LEGEND_HTML = "&nbsp;&nbsp;".join(
    f'<span style="color:{c}">{_SYMBOLS[m]}</span>&nbsp;{label}' for c, m, label in TIER_STYLE.values()
)


def colour_lut(cmap: str) -> np.ndarray:
    """The colour map ``cmap`` at 256 levels, ``(256, 3)`` float32 in [0, 255]."""
    from matplotlib import colormaps

    return (colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).astype(np.float32)


def image_rgb(image, *, step: int = 1, cmap: str = "gray", vmin=None, vmax=None) -> np.ndarray:
    """The colours of an image as imshow would draw them, on the display grid of ``step``.

    Parameters
    ----------
    image : ndarray, shape (h, w) or (h, w, 3 or 4)
        A scalar image (colour-mapped with ``cmap`` from ``vmin`` to ``vmax``, default its own
        minimum and maximum) or colours (in [0, 1], or in [0, 255] when the maximum exceeds 1).
    step : int, optional
        Every ``step``-th pixel in each direction (1: all).

    Returns
    -------
    ndarray, shape (ceil(h / step), ceil(w / step), 3), uint8
    """
    image = np.asarray(image)
    if image.ndim == 2:
        from matplotlib import colormaps
        from matplotlib.cm import ScalarMappable

        sm = ScalarMappable(cmap=colormaps[cmap])
        lo = float(image.min()) if vmin is None else float(vmin)
        hi = float(image.max()) if vmax is None else float(vmax)
        sm.set_clim(lo, hi)  # the whole image's range, also on a display grid
        return np.ascontiguousarray(sm.to_rgba(image[::step, ::step].astype(float), bytes=True)[..., :3])
    img = image[::step, ::step, :3].astype(float)
    scale = 255.0 if image.max() > 1 else 1.0
    return (np.clip(img / scale, 0, 1) * 255 + 0.5).astype(np.uint8)


def levels(values) -> np.ndarray:
    """Map values in [0, 1] as colour-map levels ``round(255 v)`` (clipped), ``uint8``, same shape.

    The one rounding rule of the overlay: :func:`blend` indexes the colour map with it and the live
    layer (:mod:`confmap.widgets._layer`) receives the map as these bytes.
    """
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    return (v * np.float32(255.0) + np.float32(0.5)).astype(np.uint8)


def blend(base_rgb, values, opacity: float, lut) -> np.ndarray:
    """The image with the map over it, alpha rising with confidence.

    Parameters
    ----------
    base_rgb : ndarray, shape (h, w, 3), float
        The image's colours in [0, 255].
    values : ndarray, shape (h, w)
        Map values in [0, 1].
    opacity : float
        Opacity of the colour where the map is 1, in [0, 1].
    lut : ndarray, shape (256, 3)
        The overlay's colour map (:func:`colour_lut`).

    Returns
    -------
    ndarray, shape (h, w, 3), uint8
        ``base + opacity * v * (lut[round(255 v)] - base)``, rounded.
    """
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    idx = levels(v)
    a = (np.float32(opacity) * v)[..., None]
    rgb = base_rgb + a * (lut[idx] - base_rgb)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def display_step(shape, max_pixels: int | None) -> int:
    """The stride of the display grid: 1, or the smallest integer making the longer side <= max_pixels."""
    if max_pixels is None:
        return 1
    return max(1, -(-max(shape) // int(max_pixels)))


def ripple_indicator(attrs) -> str | None:
    """The compact ripple indicator of a map's attrs, e.g. ``"ripple 1.8 % — use λ = 118"``.

    None when the map did not warn (no ``suggested_lam`` and ripple under its ``ripple_warn``).
    """
    ripple = float(attrs.get("ripple", 0.0) or 0.0)
    warn = attrs.get("ripple_warn")
    need = attrs.get("suggested_lam")
    if need is None and (warn is None or ripple <= float(warn)):
        return None
    text = f"ripple {100 * ripple:.1f} %"
    return text + (f" — use λ = {int(need)}" if need is not None else " — use a larger λ")


def status_html(tier: str, text: str, ripple: str | None) -> str:
    """The status line's HTML: the current tier as a coloured badge, the text, the ripple in amber."""
    colour = TIER_STYLE[tier].colour
    badge = (
        f'<span style="background:{colour};color:#000;font-weight:bold;padding:1px 8px;'
        f'border-radius:3px">{html.escape(TIER_STYLE[tier].label)}</span>'
    )
    out = f"{badge} <code>{html.escape(text)}</code>"
    if ripple:
        out += f' <span style="color:#b35900">{html.escape(ripple)}</span>'
    return out
