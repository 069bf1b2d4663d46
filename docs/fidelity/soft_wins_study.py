"""When do soft labels win? A one-knob-at-a-time study on the phantom (issue 14, item 3).

Every point trains, under 5-fold cross-validation, one UNet on soft labels (the virtual annotator's
confidence maps) and one on hard labels, with BCE (the paper's Figure 6 loss), and reports the
per-image paired difference of held-out Brier scores (soft - hard; negative: soft better) with a
bootstrap 95 % interval and a paired Wilcoxon test, against the raters' agreement and against the
truth, beside the number of folds in which soft beat hard.

The knobs, varied one at a time around a baseline (20 images of 64x64, half diffuse, default rater
noise, hard label = the reference rater): the spread of the raters' consistent biases, their boundary
noise, the share of diffuse tumours, the number of images, and how the hard label is chosen; and the
baseline once more with another training seed (fold split, initial weights, batch order), to show the
run-to-run spread that the per-image intervals do not contain.

Run from the repository root (each point takes about a minute on one CPU thread; results are saved
after every point and a rerun skips finished points)::

    python docs/fidelity/soft_wins_study.py            # run missing points, write JSON, figure, doc
    python docs/fidelity/soft_wins_study.py --render   # only the figure and the doc block

Writes ``docs/fidelity/soft_wins_study.json``, ``docs/images/fidelity_soft_wins.png`` and the
generated block of ``docs/fidelity.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULT = HERE / "soft_wins_study.json"
FIGURE = HERE.parent / "images" / "fidelity_soft_wins.png"
DOC = HERE.parent / "fidelity.md"
BLOCK = "soft_wins_study"

BASE = {
    "n": 20,
    "size": [64, 64],
    "kinds": ["well_defined", "diffuse"],
    "rater_bias_sd": 1.2,
    "rater_boundary_factor": 1.0,
    "hard_label": "reference",
}
#: (name, knob, changes to BASE), in the order they are run (cheapest and most telling first).
POINTS = [
    ("baseline", "baseline", {}),
    ("hard label: random rater", "hard label", {"hard_label": "random"}),
    ("hard label: majority vote", "hard label", {"hard_label": "majority"}),
    ("diffuse share 0 %", "diffuse share", {"kinds": ["well_defined"]}),
    ("diffuse share 100 %", "diffuse share", {"kinds": ["diffuse"]}),
    ("rater bias spread 0", "rater bias", {"rater_bias_sd": 0.0}),
    ("rater bias spread 2.4", "rater bias", {"rater_bias_sd": 2.4}),
    ("boundary noise x0", "boundary noise", {"rater_boundary_factor": 0.0}),
    ("boundary noise x2", "boundary noise", {"rater_boundary_factor": 2.0}),
    ("10 images", "training-set size", {"n": 10}),
    ("40 images", "training-set size", {"n": 40}),
    ("baseline, training seed 1", "run-to-run noise", {"train_seed": 1}),
]
CONFIG = {"losses": ["bce"], "n_folds": 5, "epochs": 20, "batch_size": 2, "lr": 1e-2, "seed": 0}
DATA_SEED = 0
N_RESAMPLES = 9999


def run_point(settings: dict) -> dict:
    """Make the dataset of one point, cross-validate, and summarise (one CPU thread)."""
    from confmap.learn import CVConfig, cross_validate, paired_test
    from confmap.phantom import make_dataset

    tic = time.perf_counter()
    ds = make_dataset(
        settings["n"],
        seed=DATA_SEED,
        size=tuple(settings["size"]),
        kinds=tuple(settings["kinds"]),
        rater_bias_sd=settings["rater_bias_sd"],
        rater_boundary_factor=settings["rater_boundary_factor"],
        progress=False,
    )
    config = {**CONFIG, "losses": tuple(CONFIG["losses"]), "seed": settings.get("train_seed", CONFIG["seed"])}
    cfg = CVConfig(**config, hard_label=settings["hard_label"])
    res = cross_validate(ds, cfg, progress=False, keep_predictions=False, num_threads=1)
    out = {"settings": settings, "seconds": time.perf_counter() - tic, "scores": {}}
    for ref in ("agreement", "truth"):
        for metric in ("brier", "soft_dice"):
            sc = res["score"].sel(loss="bce", reference=ref, metric=metric)
            fs = res["fold_score"].sel(loss="bce", reference=ref, metric=metric)
            soft, hard = sc.sel(label="soft").values, sc.sel(label="hard").values
            r = paired_test(soft, hard, n_resamples=N_RESAMPLES, seed=0)
            r["folds_soft_better"] = int((fs.sel(label="soft") < fs.sel(label="hard")).sum())
            r["n_folds"] = int(fs.sizes["fold"])
            r["mean_soft"], r["mean_hard"] = float(soft.mean()), float(hard.mean())
            out["scores"][f"{ref}/{metric}"] = r
    return out


def load() -> dict:
    return json.loads(RESULT.read_text()) if RESULT.exists() else {"config": CONFIG, "points": {}}


def save(data: dict) -> None:
    from confmap._validation import atomic_write_bytes

    atomic_write_bytes(RESULT, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())


def render_table(data: dict) -> str:
    """The Markdown block of docs/fidelity.md, generated from the result file only."""
    lines = [
        "| point | knob | images | Brier soft − hard vs agreement [95 % CI] | p | folds soft better "
        "| Brier soft − hard vs truth [95 % CI] | p | folds soft better | s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    missing = []
    for name, knob, _ in POINTS:
        pt = data["points"].get(name)
        if pt is None:
            missing.append(name)
            continue
        cells = [name, knob, str(pt["settings"]["n"])]
        for ref in ("agreement", "truth"):
            r = pt["scores"][f"{ref}/brier"]
            cells += [
                f"{r['mean_diff'] * 1e4:+.1f}e-4 [{r['ci_low'] * 1e4:+.1f}, {r['ci_high'] * 1e4:+.1f}]",
                f"{r['p_value']:.3f}" if r["p_value"] >= 0.001 else "< 0.001",
                f"{r['folds_soft_better']} of {r['n_folds']}",
            ]
        cells.append(f"{pt['seconds']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Not run (time): " + ", ".join(missing) + "." if missing else "Every point of the grid ran.")
    done = [(n, data["points"][n]) for n, _, _ in POINTS if n in data["points"]]

    def names(ref, pred):
        return ", ".join(n for n, pt in done if pred(pt["scores"][f"{ref}/brier"])) or "none"

    for ref in ("agreement", "truth"):
        lines += [
            "",
            f"Against the {ref}:",
            f"- soft better in every fold: {names(ref, lambda r: r['folds_soft_better'] == r['n_folds'])};",
            f"- interval below 0 (soft better): {names(ref, lambda r: r['ci_high'] < 0)};",
            f"- interval above 0 (hard better): {names(ref, lambda r: r['ci_low'] > 0)};",
            f"- paired Wilcoxon p < 0.05: {names(ref, lambda r: r['p_value'] < 0.05)}.",
        ]
    return "\n".join(lines)


def replace_block(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- BEGIN {name} (generated) -->", f"<!-- END {name} -->"
    i, j = text.index(begin) + len(begin), text.index(end)
    return text[:i] + "\n" + body + "\n" + text[j:]


def read_block(text: str, name: str) -> str:
    begin, end = f"<!-- BEGIN {name} (generated) -->", f"<!-- END {name} -->"
    return text[text.index(begin) + len(begin) : text.index(end)].strip("\n")


def plot(data: dict):
    import matplotlib.pyplot as plt

    names = [n for n, _, _ in POINTS if n in data["points"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * len(names) + 1.6), sharey=True, layout="constrained")
    for ax, ref in zip(axes, ("agreement", "truth"), strict=True):
        for i, name in enumerate(names):
            r = data["points"][name]["scores"][f"{ref}/brier"]
            lo, hi = r["mean_diff"] - r["ci_low"], r["ci_high"] - r["mean_diff"]
            colour = "C0" if r["ci_high"] < 0 else ("C3" if r["ci_low"] > 0 else "0.4")
            ax.errorbar(r["mean_diff"], i, xerr=[[lo], [hi]], fmt="o", color=colour, capsize=3)
            ax.annotate(
                f"{r['folds_soft_better']}/{r['n_folds']}",
                (r["ci_high"], i),
                xytext=(4, -3),
                textcoords="offset points",
                fontsize=7,
            )
        ax.axvline(0, color="0.6", lw=0.8)
        ax.set_xlabel(f"Brier soft − hard vs {ref} (negative: soft better)")
    axes[0].set_yticks(range(len(names)), names)
    axes[0].invert_yaxis()
    fig.suptitle("BCE UNet, held-out images: mean paired difference, bootstrap 95 % CI, folds soft better")
    return fig


def render(data: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    fig = plot(data)
    fig.savefig(FIGURE, dpi=110)
    DOC.write_text(replace_block(DOC.read_text(), BLOCK, render_table(data)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--render", action="store_true", help="only redraw the figure and the doc block")
    ap.add_argument("--only", nargs="*", help="run only these point names")
    ap.add_argument("--result", type=Path, default=None, help="write points to this JSON instead")
    ap.add_argument("--merge", type=Path, nargs="*", default=[], help="add the points of these files")
    args = ap.parse_args(argv)
    global RESULT
    if args.result is not None:
        RESULT = args.result
    data = load()
    for extra in args.merge:
        for name, pt in json.loads(extra.read_text())["points"].items():
            data["points"].setdefault(name, pt)
        save(data)
    if not args.render:
        from tqdm.auto import tqdm

        todo = [p for p in POINTS if p[0] not in data["points"] and (not args.only or p[0] in args.only)]
        for name, knob, change in tqdm(todo, desc="study points"):
            pt = run_point({**BASE, **change})
            pt["knob"] = knob
            data["points"][name] = pt
            save(data)
    if args.result is None:
        render(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
