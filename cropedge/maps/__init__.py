"""Map production beyond one device: stacks spread over a Dask cluster, and per-field labels.

Needs the ``cluster`` (dask.distributed) and ``fields`` (pyogrio, shapely) extras; the work
of each stack is ``cropedge.device``'s, which never imports this wing.
"""
