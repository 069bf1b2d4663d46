"""Batch work on many files, in this process or on a dask.distributed cluster.

``import confmap`` never imports this subpackage; it needs ``pip install confmap[batch]``
(dask, distributed, zarr). Every function takes ``client=``: a ``distributed.Client`` (a
``LocalCluster`` on this machine, a ``dask_jobqueue.SLURMCluster``, any scheduler address), or
None to run in this process. :func:`open_client` makes one for a ``with`` block.

- :func:`make_maps`: annotation files -> map files, one task per case (mixed image sizes), each
  written atomically by its worker; resumable; a folder of other parameters is refused.
- :func:`maps_to_zarr`: a same-size stack through ``xarray.apply_ufunc(..., dask="parallelized")``
  into Zarr, chunk by chunk.
- :func:`evaluate_folder`: the paper's evaluation, one task per image, combined from small
  per-image summaries (one image in memory per worker).
- :func:`evaluate_stack`: the same for a dask-backed (N, H, W) stack (lazily opened Zarr or
  NetCDF), one image chunk per task.
- :func:`sweep_folder`: a parameter sweep (:func:`confmap.sweep.sweep`) over every case, one task
  per case, small metric grids back.
- :func:`make_phantom_folder`: a simulated dataset on disk (the folder layout of
  :func:`confmap.io.load_folder`), one task per case.
- :func:`cross_validate`: :func:`confmap.learn.cross_validate` with one task per unit
  (loss, label, fold), each in its own checkpoint folder; identical results.
"""

from .crossval import cross_validate  # torch is imported only when it is called
from .engine import BadInput, FolderConflict, SchedulerUnreachable, open_client, remove_temporaries, run_tasks
from .evaluation import combine_evaluations, evaluate_case, evaluate_folder, evaluate_stack, sweep_case, sweep_folder
from .maps import MAP_FORMATS, MapsReport, find_annotations, make_maps, map_file, maps_to_zarr, read_annotation
from .phantom_folder import make_phantom_folder, phantom_case

__all__ = [
    "MAP_FORMATS",
    "BadInput",
    "FolderConflict",
    "MapsReport",
    "SchedulerUnreachable",
    "combine_evaluations",
    "cross_validate",
    "evaluate_case",
    "evaluate_folder",
    "evaluate_stack",
    "find_annotations",
    "make_maps",
    "make_phantom_folder",
    "map_file",
    "maps_to_zarr",
    "open_client",
    "phantom_case",
    "read_annotation",
    "remove_temporaries",
    "run_tasks",
    "sweep_case",
    "sweep_folder",
]
