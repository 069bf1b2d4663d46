"""Draw the README's picture of the construction: points and regions, grid weights, the map.

python docs/make_core_figure.py          # writes docs/images/confidence_map.png
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import confmap  # noqa: E402
from confmap import phantom  # noqa: E402

COLOURS = {"high": "#d62728", "medium": "#ff7f0e", "low": "#1f77b4", "sinks": "#2ca02c"}


def main(out=Path(__file__).parent / "images" / "confidence_map.png"):
    ph = phantom.make_phantom(3, kind="diffuse")
    ann = ph.annotation
    lam = 60  # a coarser grid than the paper's 100, so that the grid is visible in panel b
    regions = confmap.tier_regions(ann)
    gx, gy = confmap.mesh_grid(ann.shape, lam=lam)
    w = confmap.grid_weights(ann, lam=lam, regions=regions)
    cm = confmap.confidence_map(ann)

    fig, axes = plt.subplots(1, 3, figsize=(12.6, 4.4), constrained_layout=True)
    ax = axes[0]
    ax.imshow(ph.bmode, cmap="gray")
    for tier in ("low", "medium", "high"):
        reg = regions[tier]
        for tri in reg.triangles:
            ax.fill(tri[:, 0], tri[:, 1], facecolor="none", edgecolor=COLOURS[tier], lw=0.5, alpha=0.6)
        pts = ann.points(tier)
        ax.plot(pts[:, 0], pts[:, 1], "o", ms=4, color=COLOURS[tier], label=f"{tier} ({len(pts)})")
    ax.set_title("a) tiered points and their Delaunay regions")
    ax.legend(loc="lower right", fontsize=8)

    ax = axes[1]
    ax.imshow(ph.bmode, cmap="gray", alpha=0.35)
    gxx, gyy = np.meshgrid(gx, gy)
    on = w > 0
    ax.scatter(gxx[~on], gyy[~on], s=0.4, c="0.6")
    sc = ax.scatter(gxx[on], gyy[on], s=4, c=w[on], cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(sc, ax=ax, shrink=0.8, label="grid weight (Eq. 5)")
    ax.set_xlim(-0.5, ann.shape[1] - 0.5)
    ax.set_ylim(ann.shape[0] - 0.5, -0.5)
    ax.set_title(f"b) mesh grid weights (lambda = {lam} shown)")

    ax = axes[2]
    ax.imshow(ph.bmode, cmap="gray")
    im = ax.imshow(np.ma.masked_less(cm.values, 0.01), cmap="magma", alpha=0.75, vmin=0, vmax=1)
    ax.contour(ph.masks.mean(axis=0), levels=[0.5], colors="cyan", linewidths=0.8)
    fig.colorbar(im, ax=ax, shrink=0.8, label="confidence (Eq. 7)")
    ax.set_title("c) confidence map; cyan: rater agreement 0.5")
    for a in axes:
        a.set_xticks([])
        a.set_yticks([])
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
