"""The Annotator's controls: tier buttons and badge, actions, opacity, the status line and its ripple button.

A mixin of :class:`confmap.widgets.Annotator`. Every control's callback only calls a public method
of the annotator (``set_tier``, ``undo``, ``redo``, ``clear_tier``, ``save``, ``use_suggested_lam``)
or sets a checked property (``show_map``, ``opacity``).
"""

from __future__ import annotations

from .. import construct as _construct
from ..annotation import TIERS
from ..style import TIER_STYLE
from ._layer import stack
from ._overlay import LEGEND_HTML, ripple_indicator, status_html

__all__ = ["AnnotatorControls"]


class AnnotatorControls:
    """The Annotator's ipywidgets row and status line (the Annotator supplies the state)."""

    def _update_status(self) -> None:
        counts = self.annotation.counts()
        parts = [f"tier: {self.session.tier}", " · ".join(f"{t} {counts[t]}" for t in TIERS)]
        if self._map is not None and not self._map_stale:  # the map's attrs already say it
            missing = [r for r in self._map.attrs.get("no_region", "").split("; ") if r]
            any_region = bool(self._map.attrs["tiers_with_region"])
        else:
            regions = _construct.tier_regions(
                self.annotation,
                region=self._map_options.get("region", "convex"),
                alpha=self._map_options.get("alpha"),
            )
            missing = [regions[t].reason for t in regions if not regions[t].ok and counts[t] > 0]
            any_region = any(r.ok for r in regions.values())
        if not any_region:
            missing.append("no map yet: a tier needs 3 points that are not on one line")
        parts.extend(missing)
        parts.extend(self._messages if self._show_map else [])
        fresh = self._show_map and self._map is not None and not self._map_stale
        self._ripple_text = ripple_indicator(self._map.attrs) if fresh else None
        need = self._map.attrs.get("suggested_lam") if self._ripple_text else None
        self._status_text = " | ".join(parts + ([self._ripple_text] if self._ripple_text else []))
        self._status.value = status_html(self.session.tier, " | ".join(parts), self._ripple_text)
        self._ripple_button.description = f"use λ = {need}" if need is not None else ""
        self._ripple_button.layout.display = None if need is not None else "none"

    def _badge_html(self) -> str:
        colour, _, label = TIER_STYLE[self.session.tier]
        return (
            f'<span style="font-size:1.1em">adding <b style="background:{colour};color:#000;padding:2px 10px;'
            f'border-radius:4px">{label.upper()}</b></span>'
        )

    def _build_controls(self) -> None:
        import ipywidgets as w

        self._tier_buttons = w.ToggleButtons(
            options=[("1 high", "high"), ("2 medium", "medium"), ("3 low", "low"), ("4 sink", "sinks")],
            value=self.session.tier,
            tooltips=["key 1", "key 2", "key 3", "key 4"],
            style={"button_width": "92px"},
        )
        self._tier_badge = w.HTML(self._badge_html(), layout=w.Layout(width="150px"))
        self._tier_buttons.observe(lambda ch: self.set_tier(ch["new"]), names="value")

        def button(description, icon, width, action, display=None, **kwargs):
            b = w.Button(description=description, icon=icon, layout=w.Layout(width=width, display=display), **kwargs)
            b.on_click(lambda _: action())
            return b

        self._undo_button = button("undo", "undo", "80px", self.undo)
        self._redo_button = button("redo", "repeat", "80px", self.redo)
        self._clear_button = button("clear tier", "trash", "100px", self.clear_tier)
        self._save_button = button("save", "save", "80px", self.save, disabled=self.session.path is None)
        self._map_toggle = w.Checkbox(
            value=self._show_map, description="map", indent=False, layout=w.Layout(width="60px")
        )
        self._map_toggle.observe(lambda ch: setattr(self, "show_map", bool(ch["new"])), names="value")
        self._opacity_slider = w.FloatSlider(
            value=self._opacity, min=0.0, max=1.0, step=0.05, description="opacity", continuous_update=True
        )
        self._opacity_slider.observe(lambda ch: setattr(self, "opacity", ch["new"]), names="value")
        self._status = w.HTML()
        tip = "apply the suggested lam (removes the lattice ripple)"
        self._ripple_button = button("", "magic", "130px", self.use_suggested_lam, display="none", tooltip=tip)
        row = w.Layout(align_items="center", flex_flow="row wrap")
        self._controls = w.VBox(
            [
                w.HBox([self._tier_badge, self._tier_buttons, w.HTML(LEGEND_HTML)], layout=row),
                w.HBox(
                    [
                        self._undo_button,
                        self._redo_button,
                        self._clear_button,
                        self._save_button,
                        self._map_toggle,
                        self._opacity_slider,
                    ],
                    layout=row,
                ),
            ]
        )
        children = [self._controls]
        if isinstance(self.figure.canvas, w.DOMWidget):
            children.append(stack(self.figure.canvas, self._layer))
        if self._layer is not None:  # opacity changes in the browser alone, no kernel round trip
            self._opacity_link = w.jslink((self._opacity_slider, "value"), (self._layer, "opacity"))
        children.append(w.HBox([self._status, self._ripple_button], layout=row))
        self._box = w.VBox(children)
        self._box.add_class("confmap-annotator")  # a handle for CSS and for the browser test
        self._key_events = None
        # Keys typed while a control (a tier button, say) has the focus, with the mouse over the
        # annotator (ipyevents listens while the mouse is over its source). The figure's own
        # keydowns never reach it: ipympl handles them and stops their propagation.
        try:
            from ipyevents import Event
        except ImportError:  # pragma: no cover - ipyevents comes with the notebooks extra
            return
        self._key_events = Event(source=self._box, watched_events=["keydown"], prevent_default_action=False)
        self._key_events.on_dom_event(self._on_dom_key)
