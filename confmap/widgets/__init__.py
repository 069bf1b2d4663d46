"""Interactive Jupyter widgets (ipywidgets + ipympl live only here).

- :class:`Annotator` (``confmap.widgets.annotator``): click tiered confidence points on an image,
  with the confidence map following every change.
- :class:`ParameterExplorer` (``confmap.widgets.explorer``): sliders for lambda, the betas, the
  bandwidth and the region mode, with live metrics against an agreement map.

Importing ``confmap`` never imports this package; importing this package imports ipywidgets and
matplotlib only when a widget class is first used.
"""

__all__ = ["Annotator", "ParameterExplorer"]
_MODULES = {"Annotator": ".annotator", "ParameterExplorer": ".explorer"}


def __getattr__(name):
    if name not in _MODULES:
        raise AttributeError(f"module 'confmap.widgets' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_MODULES[name], __name__), name)
