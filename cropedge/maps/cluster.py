"""Run a plan of parts on Dask: a LocalCluster sized to the machine, or any scheduler.

``--scheduler ADDRESS`` connects to an existing cluster, so every Dask deployment works
(dask-jobqueue on Slurm or PBS, dask-kubernetes, a cloud service). Each worker runs one
part at a time with one interpreter thread (``threads_per_worker=1``) and keeps the bundle
loaded between parts (``cropedge.device.jobs.load_model``); a part's memory is bounded
by its window size as in one process. A worker that dies is replaced by its nanny and its
part runs again elsewhere; a part that keeps killing workers becomes a failure row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from cropedge.device.jobs import Outcome, Part, Settings, run_part
from cropedge.errors import CropEdgeError

# runs of a part whose worker died or whose result was lost with its worker (Dask itself
# retries a task up to distributed.scheduler.allowed-failures times before KilledWorker)
ATTEMPTS = 2


def _client(workers: int, scheduler: str | None) -> tuple[Any, Any]:
    try:
        from dask.distributed import Client, LocalCluster
    except ModuleNotFoundError:
        raise CropEdgeError('running on Dask needs dask.distributed: pip install "cropedge[cluster]"') from None
    if scheduler is not None:
        try:
            return Client(scheduler, timeout="20s"), None
        except OSError as exc:
            raise CropEdgeError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR)
    return Client(cluster), cluster


def run_on_dask(
    plan: Callable[[int], list[Part]],
    settings: Settings,
    workers: int,
    scheduler: str | None = None,
    runner: Callable[[Part, Settings], Outcome] = run_part,
    progress: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run the parts ``plan(number of workers)`` makes on the cluster, one task each; outcomes in plan order."""
    from dask.distributed import as_completed

    client, cluster = _client(workers, scheduler)
    try:
        parts = plan(max(1, len(client.scheduler_info()["workers"])))
        futures = {client.submit(runner, p, settings, pure=False, key=f"cropedge-part-{i}"): i
                   for i, p in enumerate(parts)}
        done: dict[int, Outcome] = {}
        tries = dict.fromkeys(range(len(parts)), 1)
        running = as_completed(futures)
        for future in running:
            i = futures[future]
            try:
                done[i] = future.result()
            except Exception as exc:  # the runner never raises: a worker died, or its result was lost with it
                if tries[i] < ATTEMPTS:  # once more: a finished map is found and kept, an unfinished one redone
                    tries[i] += 1
                    retry = client.submit(runner, parts[i], settings, pure=False, key=f"cropedge-part-{i}-{tries[i]}")
                    futures[retry] = i
                    running.add(retry)
                    continue
                done[i] = Outcome(parts[i], "failed", reason=f"{type(exc).__name__}: {exc}")
            if progress is not None:
                progress(done[i])
        return [done[i] for i in range(len(parts))]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
