"""Make docs/images/phantom.png: a well-defined and a diffuse phantom with raters and annotator.

Run from the repository root: ``python docs/make_phantom_figure.py``. Also prints the measured
rater agreement (mean pairwise Dice by kind) of a 30-image dataset.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from confmap import phantom  # noqa: E402

OUT = Path(__file__).parent / "images" / "phantom.png"
TIER_STYLE = {"high": ("#00e000", "o"), "medium": ("#ffd000", "s"), "low": ("#00c8ff", "^")}


def _crop(ds):
    rows = np.flatnonzero(ds.sector.values[0].any(1))
    return slice(0, rows[-1] + 3)


def main():
    ds = phantom.make_dataset(2, seed=4, kinds=("well_defined", "diffuse"), progress=False)
    ys = _crop(ds)
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 5.6), constrained_layout=True)
    for i, row in enumerate(axes):
        b = ds.bmode.values[i][ys]
        kind = str(ds.kind.values[i]).replace("_", " ")
        ext = None
        row[0].imshow(b, cmap="gray", vmin=0, vmax=1, extent=ext)
        row[0].set_title(f"{kind}: B-mode (margin {float(ds.margin_mm[i]):.1f} mm)", fontsize=9)
        im = row[1].imshow(ds.truth.values[i][ys], cmap="viridis", vmin=0, vmax=1)
        row[1].set_title("truth p + four rater outlines", fontsize=9)
        for r in range(ds.sizes["rater"]):
            ref = r == ds.attrs["reference_rater"]
            row[1].contour(
                ds.masks.values[i, r][ys],
                [0.5],
                colors=["white" if ref else f"C{r + 1}"],
                linewidths=1.4 if ref else 0.9,
                linestyles="--" if ref else "-",
            )
        row[2].imshow(b, cmap="gray", vmin=0, vmax=1)
        row[2].imshow(ds.confidence.values[i][ys], cmap="magma", vmin=0, vmax=1, alpha=0.55)
        for tier, (colour, marker) in TIER_STYLE.items():
            sel = ds.point_tier.values[i] == tier
            row[2].plot(
                ds.point_x.values[i][sel],
                ds.point_y.values[i][sel],
                marker,
                color=colour,
                ms=4,
                mec="k",
                mew=0.4,
                ls="",
                label=tier,
            )
        row[2].set_title("virtual annotator: points + confidence map", fontsize=9)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
        # zoom the two right panels on the tumour
        cx, cy = np.nanmean(ds.point_x.values[i]), np.nanmean(ds.point_y.values[i])
        for ax in row[1:]:
            ax.set_xlim(cx - 60, cx + 60)
            ax.set_ylim(cy + 50, cy - 50)
    axes[0, 2].legend(loc="lower right", fontsize=7, framealpha=0.7)
    fig.colorbar(im, ax=axes[:, 1], shrink=0.6, label="p / confidence")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=80)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} kB)")

    big = phantom.make_dataset(30, seed=0, progress=False)
    dice = np.array([phantom.pairwise_dice(m) for m in big.masks.values])
    kinds = big.kind.values
    print(
        f"pairwise Dice, 30 images 256x256 seed 0: all {dice.mean():.3f}, "
        + ", ".join(f"{k} {dice[kinds == k].mean():.3f} (n={int((kinds == k).sum())})" for k in phantom.KINDS)
    )


if __name__ == "__main__":
    main()
