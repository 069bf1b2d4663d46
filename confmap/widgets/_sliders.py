"""The ParameterExplorer's controls and text panels: sliders, the region row, metrics and status HTML.

Plain functions (no explorer state): :func:`make_controls` builds the ipywidgets controls from a
setting, :func:`control_panel` lays them out, :func:`metrics_html` and :func:`status_html` write
the two text panels.
"""

from __future__ import annotations

import html
import math

__all__ = ["control_panel", "fmt_bandwidth", "make_controls", "metrics_html", "slider_bandwidth", "status_html"]

#: Width of the slider descriptions (and of the region row's label), so that every row lines up.
LABEL_WIDTH = "64px"

_METRICS = (
    ("Brier", "brier", "lower is better"),
    ("Brier (foreground)", "brier_fg", "lower is better"),
    ("soft Dice", "soft_dice", "higher is better"),
)


def slider_bandwidth(bandwidth) -> float:
    """The bandwidth slider's value: the factor, or 0.1 for a rule ("scott", "silverman")."""
    return 0.1 if isinstance(bandwidth, str) else bandwidth


def fmt_bandwidth(bandwidth) -> str:
    """The bandwidth as the title shows it: the rule's name or the factor to 3 digits."""
    return bandwidth if isinstance(bandwidth, str) else f"{bandwidth:.3g}"


def make_controls(state: dict, shape) -> dict:
    """The explorer's controls for the setting ``state`` on an image of ``shape`` ``(H, W)``.

    Returns
    -------
    dict of str to ipywidgets.Widget
        ``"lam"``, ``"beta_h"``, ``"beta_m"``, ``"beta_l"``, ``"bandwidth"``, ``"region"``,
        ``"alpha"``, ``"opacity"``. The map's sliders send their value at release
        (``continuous_update=False``: each value costs a map); the opacity slider continuously.
    """
    import ipywidgets as widgets

    s = state
    style = {"description_width": LABEL_WIDTH}
    layout = widgets.Layout(width="290px")
    common = dict(style=style, layout=layout, continuous_update=False)

    def beta(name, label):
        return widgets.FloatSlider(
            value=s[name], min=0.0, max=max(1.0, s[name]), step=0.01, description=label, **common
        )

    bw = slider_bandwidth(s["bandwidth"])
    return {
        "lam": widgets.IntSlider(
            value=s["lam"],
            min=10,
            max=max(300, s["lam"]),
            step=1,
            description="λ (grid)",
            tooltip="mesh grid subsampling lambda: (lambda + 1)^2 grid points",
            **common,
        ),
        "beta_h": beta("beta_h", "β_H"),
        "beta_m": beta("beta_m", "β_M"),
        "beta_l": beta("beta_l", "β_L"),
        "bandwidth": widgets.FloatLogSlider(
            value=bw,
            base=10,
            min=min(-2.0, math.log10(bw)),
            max=max(0.0, math.log10(bw)),
            step=0.01,
            description="σ (bw)",
            tooltip="KDE bandwidth factor sigma",
            readout_format=".3f",
            **common,
        ),
        # no description: the row's label sits inline, left of the buttons (control_panel)
        "region": widgets.ToggleButtons(
            options=["convex", "alpha"],
            value=s["region"],
            tooltips=["convex hull (the paper)", "alpha shape"],
            style={"button_width": "90px"},
        ),
        "alpha": widgets.FloatSlider(
            value=s["alpha"],
            min=0.0,
            max=max(float(max(shape)), s["alpha"]),
            step=0.5,
            description="α (px)",
            disabled=s["region"] != "alpha",
            **common,
        ),
        "opacity": widgets.FloatSlider(
            value=s["opacity"], min=0.0, max=1.0, step=0.05, description="opacity", style=style, layout=layout
        ),
    }


def control_panel(controls: dict, *extra):
    """The controls in one column, the region buttons inline with their label, then ``extra`` widgets."""
    import ipywidgets as widgets

    rows = []
    for name, ctl in controls.items():
        if name == "region":
            label = widgets.Label(
                "region", layout=widgets.Layout(width=LABEL_WIDTH, min_width=LABEL_WIDTH, justify_content="flex-end")
            )
            label.add_class("confmap-region-label")
            rows.append(widgets.HBox([label, ctl], layout=widgets.Layout(align_items="center", flex_flow="row nowrap")))
        else:
            rows.append(ctl)
    return widgets.VBox([*rows, *extra], layout=widgets.Layout(width="310px", min_width="310px"))


def metrics_html(metrics: dict) -> str:
    """The metrics panel: Brier (whole image, foreground) and soft Dice, one per line."""
    return "<b>vs agreement</b><br>" + "<br>".join(
        f"<span style='white-space:nowrap' title='{hint}'>{name} {metrics[key]:.4f}</span>"
        for name, key, hint in _METRICS
    )


def status_html(counts: dict, ripple: str | None, messages) -> str:
    """The status panel: the point counts, the compact ripple indicator and other warnings in amber."""
    head = ", ".join(f"{k} {v}" for k, v in counts.items())
    out = f"<span style='white-space:nowrap'>points: {html.escape(head)}</span>"
    if ripple:
        out += f"<br><span style='color:#b35900'>{html.escape(ripple)}</span>"
    if messages:
        out += "<br><span style='color:#b35900'>" + "<br>".join(html.escape(t) for t in messages) + "</span>"
    return out
