"""Where batch work runs: a ``concurrent.futures.Executor`` from a short spec.

=============================  ==============================================================
spec                           executor
=============================  ==============================================================
``None``, ``"local"``,         :class:`~concurrent.futures.ProcessPoolExecutor` with
``"process"``                  ``max_workers`` (default ``min(2, cpu count)``), started with
                               ``spawn`` (safe from a multi-threaded process such as Streamlit);
                               its workers end when the process that made the pool dies
                               (even by SIGKILL), and with them multiprocessing's resource
                               tracker
``"thread"``                   :class:`~concurrent.futures.ThreadPoolExecutor`
``"dask://HOST:PORT"``,        a Dask cluster's executor: ``distributed.Client(address)
``"tcp://HOST:PORT"``          .get_executor()`` (``distributed`` imported only then); the
                               client is closed when the executor shuts down
an ``Executor``                used as it is (the caller keeps ownership)
=============================  ==============================================================

Work submitted to any of them must be a picklable top-level function taking
plain data (configs, paths), never an open connection or store: every worker
opens what it needs itself.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from core.errors import ConfigError

__all__ = ["ClusterExecutor", "ExecutorSpec", "default_workers", "describe", "make_executor"]

ExecutorSpec = str | Executor | None

_LOCAL = ("local", "process")


#: Seconds between a pool worker's checks that the process that made the pool still runs.
PARENT_CHECK_SECONDS = 0.25


def _exit_with_parent(parent_pid: int) -> None:
    """Pool-worker initializer: end this worker as soon as ``parent_pid`` is gone.

    A worker of a SIGKILLed parent would otherwise wait for work forever (about
    320 MB each, plus the resource tracker they keep alive). The kernel's
    ``PR_SET_PDEATHSIG`` fires when the parent *thread* that started the worker ends,
    which in a multi-threaded parent (Streamlit, a job thread) is not the process, so
    a daemon thread watches the parent pid instead: when the worker is re-parented
    (its parent pid changes) the parent has died, and the worker exits at once.
    """
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="signal-lab-parent-watch", daemon=True).start()


def default_workers() -> int:
    """``min(2, cpu count)``: the local pool's default size."""
    return max(1, min(2, os.cpu_count() or 1))


class ClusterExecutor(Executor):
    """A Dask cluster's executor that owns its client (closed on :meth:`shutdown`).

    Parameters
    ----------
    address : str
        Scheduler address, ``tcp://HOST:PORT``.
    """

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - distributed is a dependency
            raise ConfigError(
                f"a Dask executor needs the 'distributed' package ({exc}); "
                "pip install 'dask[distributed]'"
            ) from None
        try:
            self.client = Client(address, timeout="10s", set_as_default=False)
        except OSError as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {address} ({exc}); start one with "
                "`dask scheduler` and workers with `dask worker ADDRESS`, or drop --executor "
                "to use the local process pool"
            ) from None
        self.address = address
        self._executor = self.client.get_executor(pure=False)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self._executor.submit(fn, *args, **kwargs)

    def map(
        self, fn: Callable[..., Any], *iterables: Iterable[Any], timeout: float | None = None,
        chunksize: int = 1,
    ) -> Iterator[Any]:  # fmt: skip
        return self._executor.map(fn, *iterables, timeout=timeout)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._executor.shutdown(wait=wait)
        self.client.close()

    def __repr__(self) -> str:
        return f"ClusterExecutor({self.address!r})"


def make_executor(spec: ExecutorSpec = None, *, max_workers: int | None = None) -> Executor:
    """The executor a spec names (see the module docstring).

    Parameters
    ----------
    spec : str, Executor or None
        ``None``/``"local"``/``"process"``, ``"thread"``, ``"dask://HOST:PORT"`` or
        ``"tcp://HOST:PORT"``, or an executor to use as it is.
    max_workers : int, optional
        Pool size of the local process or thread pool.

    Returns
    -------
    Executor
        The caller shuts it down (``with make_executor(...) as ex:``), except an
        executor passed in, which is returned unchanged.

    Raises
    ------
    ConfigError
        Unknown spec, bad ``max_workers`` or an unreachable scheduler.
    """
    if isinstance(spec, Executor):
        return spec
    if max_workers is not None and (
        isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
    ):
        raise ConfigError(f"max_workers must be a whole number >= 1, got {max_workers!r}")
    if spec is None or spec in _LOCAL:
        return ProcessPoolExecutor(
            max_workers=max_workers or default_workers(),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )
    if spec == "thread":
        return ThreadPoolExecutor(max_workers=max_workers or max(2, default_workers()))
    if isinstance(spec, str) and spec.startswith(("dask://", "tcp://")):
        address = "tcp://" + spec.split("://", 1)[1]
        if not address.split("://", 1)[1]:
            raise ConfigError(f"executor {spec!r} lacks HOST:PORT, e.g. dask://127.0.0.1:8786")
        return ClusterExecutor(address)
    raise ConfigError(
        f"unknown executor {spec!r}; use 'local' (process pool), 'thread', "
        "'dask://HOST:PORT' or 'tcp://HOST:PORT' (a Dask scheduler)"
    )


def describe(executor: Executor) -> str:
    """A short label of an executor for logs and results."""
    if isinstance(executor, ClusterExecutor):
        return f"dask {executor.address}"
    if isinstance(executor, ProcessPoolExecutor):
        return f"process pool ({executor._max_workers} workers)"
    if isinstance(executor, ThreadPoolExecutor):
        return f"thread pool ({executor._max_workers} workers)"
    client = getattr(executor, "_client", None)  # distributed's ClientExecutor
    address = getattr(getattr(client, "scheduler", None), "address", None)
    if address is not None:
        return f"dask {address}"
    return type(executor).__name__
