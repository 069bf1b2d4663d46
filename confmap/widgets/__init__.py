"""Interactive Jupyter widgets (ipywidgets + ipympl live only here).

- :class:`Annotator` (``confmap.widgets.annotator``): click tiered confidence points on an image,
  with the confidence map following every change.
- :class:`ParameterExplorer` (``confmap.widgets.explorer``): sliders for lambda, the betas, the
  bandwidth and the region mode, with live metrics against an agreement map.

Importing ``confmap`` never imports this package; importing this package imports ipywidgets and
matplotlib only when a widget class is first used.
"""

__all__ = ["Annotator", "ParameterExplorer"]


def __getattr__(name):
    if name == "Annotator":
        from .annotator import Annotator

        return Annotator
    if name == "ParameterExplorer":
        from .explorer import ParameterExplorer

        return ParameterExplorer
    raise AttributeError(f"module 'confmap.widgets' has no attribute {name!r}")
