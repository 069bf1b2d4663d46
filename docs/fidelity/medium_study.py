"""Table 1 at a larger size: the "medium" configuration of confmap.learn (issue 14, item 2).

40 phantom images of 128x128, 5-fold cross-validation, all six losses, soft and hard labels,
40 epochs, batch 4, Adam 3e-3 (``confmap.learn.PRESETS["medium"]``). For every loss, against the
raters' agreement (the paper's reference) and against the phantom's truth, and for both scores
(Brier, soft Dice; lower is better for both): the mean held-out score of the soft- and the
hard-trained network, the mean per-image paired difference soft - hard with its bootstrap 95 %
interval, the paired Wilcoxon p-value over the 40 held-out images and the number of folds in which
soft beat hard. The training curves (mean over folds) are stored too, with the share of each
curve's decrease that the last five epochs gave as a convergence check.

Run from the repository root (about an hour on one quiet CPU thread; every finished unit is
checkpointed under ``runs/medium`` and a rerun resumes)::

    python docs/fidelity/medium_study.py            # train what is missing, write JSON, figure, doc
    python docs/fidelity/medium_study.py --render   # only the figure and the doc block

Writes ``docs/fidelity/medium_study.json``, ``docs/images/fidelity_medium.png`` and the generated
block of ``docs/fidelity.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULT = HERE / "medium_study.json"
FIGURE = HERE.parent / "images" / "fidelity_medium.png"
DOC = HERE.parent / "fidelity.md"
BLOCK = "medium_study"
RUN_DIR = HERE.parents[1] / "runs" / "medium"
N_RESAMPLES = 9999
#: columns of confmap.learn.paired_differences that are counts (pandas rows carry them as floats)
_COUNTS = ("n_images", "images_soft_better", "folds_soft_better", "n_folds")
#: epochs at the end of training over which the convergence check compares the training loss
TAIL = 5


def summarise(res) -> dict:
    """The result file's content from a cross-validation result (no predictions kept)."""
    from confmap.learn import paired_differences

    out = {"config": json.loads(res.attrs["config"]), "seconds": float(res.attrs["seconds"]), "losses": {}}
    out["train_seconds_total"] = float(res.attrs["train_seconds_total"])
    for lo, name in zip(res["loss"].values, res["loss_name"].values, strict=True):
        out["losses"][str(lo)] = {"name": str(name), "scores": {}, "train_loss": {}}
    for ref in ("agreement", "truth"):
        for metric in ("brier", "soft_dice"):
            pdiff = paired_differences(res, reference=ref, metric=metric, n_resamples=N_RESAMPLES, seed=0)
            mean = res["fold_score"].sel(reference=ref, metric=metric).mean("fold")
            for lo, (_, row) in zip(res["loss"].values, pdiff.iterrows(), strict=True):
                r = {k: (int(v) if k in _COUNTS else float(v)) for k, v in row.items()}
                r["mean_soft"] = float(mean.sel(loss=lo, label="soft"))
                r["mean_hard"] = float(mean.sel(loss=lo, label="hard"))
                out["losses"][str(lo)]["scores"][f"{ref}/{metric}"] = r
    curves = res["train_loss"].mean("fold")
    for lo in res["loss"].values:
        for lab in res["label"].values:
            out["losses"][str(lo)]["train_loss"][str(lab)] = [float(v) for v in curves.sel(loss=lo, label=lab).values]
    return out


def tail_share(curve) -> float:
    """The share of a training curve's whole decrease that its last ``TAIL`` epochs gave.

    Near 0: the curve has flattened (converged for this purpose); a curve still falling steeply
    gives a large share. Relative to the whole decrease, not to the last value, so that a loss
    approaching 0 (BCE on hard labels) does not look unconverged by a tiny absolute change.
    """
    drop = curve[0] - curve[-1]
    return float((curve[-1 - TAIL] - curve[-1]) / drop) if drop > 0 else float("inf")


def _cell(r: dict, scale: float, unit: str) -> list[str]:
    p = f"{r['p_value']:.3f}" if r["p_value"] >= 0.001 else "< 0.001"
    return [
        f"{r['mean_soft'] * scale:.2f} / {r['mean_hard'] * scale:.2f}",
        f"{r['mean_diff'] * scale:+.2f} [{r['ci_low'] * scale:+.2f}, {r['ci_high'] * scale:+.2f}]{unit}",
        p,
        f"{r['folds_soft_better']} of {r['n_folds']}",
    ]


def render_table(data: dict) -> str:
    """The Markdown block of docs/fidelity.md, generated from the result file only."""
    cfg = data["config"]
    lines = [
        f"{len(data['losses'])} losses × 2 labels × {cfg['n_folds']} folds, {cfg['epochs']} epochs; "
        f"{data['train_seconds_total'] / 60:.0f} min of training on one CPU thread. "
        "Scores ×100 (lower is better for both); soft / hard are means over folds; Δ is the mean "
        "per-image difference soft − hard with its bootstrap 95 % interval (negative: soft better); "
        "p is the paired Wilcoxon test over the held-out images.",
    ]
    for ref in ("agreement", "truth"):
        lines += [
            "",
            f"Against the {ref}:",
            "",
            "| loss | Brier soft / hard | Brier Δ [95 % CI] | p | folds soft better "
            "| soft Dice soft / hard | soft Dice Δ [95 % CI] | p | folds soft better |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for entry in data["losses"].values():
            cells = [entry["name"]]
            for metric in ("brier", "soft_dice"):
                cells += _cell(entry["scores"][f"{ref}/{metric}"], 100, "")
            lines.append("| " + " | ".join(cells) + " |")
    names = {ref: {} for ref in ("agreement", "truth")}
    for ref in names:
        for metric in ("brier", "soft_dice"):
            rows = [(e["name"], e["scores"][f"{ref}/{metric}"]) for e in data["losses"].values()]
            names[ref][metric] = {
                "every fold": [n for n, r in rows if r["folds_soft_better"] == r["n_folds"]],
                "below 0": [n for n, r in rows if r["ci_high"] < 0],
                "above 0": [n for n, r in rows if r["ci_low"] > 0],
            }
    lines.append("")
    for ref, by in names.items():
        for metric, groups in by.items():
            label = "Brier" if metric == "brier" else "soft Dice"
            lines.append(
                f"- {label} vs {ref}: soft better in every fold: {', '.join(groups['every fold']) or 'none'}; "
                f"interval below 0 (soft better): {', '.join(groups['below 0']) or 'none'}; "
                f"interval above 0 (hard better): {', '.join(groups['above 0']) or 'none'}."
            )
    worst = max(
        ((e["name"], lab, tail_share(c)) for e in data["losses"].values() for lab, c in e["train_loss"].items()),
        key=lambda t: t[2],
    )
    lines += [
        "",
        f"Convergence: the last {TAIL} of {cfg['epochs']} epochs gave at most {worst[2] * 100:.1f} % of a "
        f"training curve's whole decrease (mean over folds; {worst[0]}, {worst[1]} labels).",
    ]
    return "\n".join(lines)


def replace_block(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- BEGIN {name} (generated) -->", f"<!-- END {name} -->"
    i, j = text.index(begin) + len(begin), text.index(end)
    return text[:i] + "\n" + body + "\n" + text[j:]


def plot(data: dict):
    """Training curves (mean over folds) per loss, and the Brier differences with intervals."""
    import matplotlib.pyplot as plt

    losses = list(data["losses"].values())
    fig = plt.figure(figsize=(13, 5.2), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1.5, 1])
    axes = left.subplots(2, 3).ravel()
    for ax, entry in zip(axes, losses, strict=False):
        for lab, style in (("soft", "-"), ("hard", "--")):
            c = entry["train_loss"][lab]
            ax.plot(range(1, len(c) + 1), c, style, color="C0" if lab == "soft" else "C3", label=lab)
        ax.set_title(entry["name"], fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    left.supxlabel("epoch", fontsize=9)
    left.supylabel("training loss (mean over folds)", fontsize=9)
    ax2 = right.subplots(1, 1)
    for ref, dy, colour in (("agreement", -0.15, "C0"), ("truth", 0.15, "C2")):
        for i, entry in enumerate(losses):
            r = entry["scores"][f"{ref}/brier"]
            ax2.errorbar(
                r["mean_diff"] * 100,
                i + dy,
                xerr=[[(r["mean_diff"] - r["ci_low"]) * 100], [(r["ci_high"] - r["mean_diff"]) * 100]],
                fmt="o",
                color=colour,
                capsize=3,
                label=f"vs {ref}" if i == 0 else None,
            )
    ax2.axvline(0, color="0.6", lw=0.8)
    ax2.set_yticks(range(len(losses)), [e["name"] for e in losses])
    ax2.invert_yaxis()
    ax2.set_xlabel("Brier ×100, soft − hard (< 0: soft better)")
    ax2.legend(fontsize=8, loc="best")
    ax2.set_title("mean paired difference, 95 % CI", fontsize=9)
    return fig


def render(data: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    fig = plot(data)
    fig.savefig(FIGURE, dpi=100)
    DOC.write_text(replace_block(DOC.read_text(), BLOCK, render_table(data)))


def save(data: dict, path: Path) -> None:
    from confmap._validation import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--render", action="store_true", help="only redraw the figure and the doc block")
    ap.add_argument("--preset", default="medium", help="another preset, for a smoke run (with --result)")
    ap.add_argument("--out-dir", type=Path, default=RUN_DIR, help="checkpoint folder (resumes)")
    ap.add_argument("--result", type=Path, default=None, help="write the summary here; no figure, no doc")
    ap.add_argument("--epochs", type=int, default=None, help="override the preset's epochs (smoke runs)")
    args = ap.parse_args(argv)
    if not args.render:
        from confmap.learn import run_experiment

        overrides = {} if args.epochs is None else {"epochs": args.epochs}
        _, res = run_experiment(args.preset, out_dir=args.out_dir, num_threads=1, **overrides)
        save(summarise(res), args.result or RESULT)
    if args.result is None:
        render(json.loads(RESULT.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
