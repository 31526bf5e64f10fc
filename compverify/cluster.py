"""Running independent cases on a Dask cluster: the ``--dask`` option.

``--dask local:N`` starts a :class:`distributed.LocalCluster` of ``N`` worker processes with one
thread each (on this machine); ``--dask tcp://HOST:PORT`` connects to a running scheduler (started
elsewhere with ``dask scheduler`` and ``dask worker tcp://HOST:PORT --nthreads 1``), so that the
cases run on as many machines as have workers.  Without ``--dask`` a loop runs in-process.

:func:`run_unordered` submits one task per case and yields the results as they finish, on the
client: the caller writes its file there (workers never write), so a resumable file stays the
work of one process.  Each case must be a pure function of its arguments (the caller's seeds
are part of them): a case that runs twice gives the same answer, which is what makes the two
kinds of retry safe.  A worker that dies mid-case loses that case only: the scheduler gives the
task to another worker (up to ``distributed.scheduler.allowed-failures`` deaths, 3 by default, then
:class:`distributed.KilledWorker`, which :func:`run_unordered` reports for that case alone).

A case's float64 result must not depend on where it runs either: OpenBLAS adds up a matrix
product or a reduction in an order that depends on its thread count, and a Dask worker runs with
one BLAS thread while this process may use one per core (the spectral experiment's distances at
``n = 256`` differ in their last bits between the two).  So the case functions run their linear
algebra inside :func:`one_blas_thread`, in-process as on a worker; the cluster supplies the
parallelism, across cases.  Machines with different CPUs may still round differently (OpenBLAS
picks its kernels by CPU); the files were compared on one machine.

``distributed`` is an optional dependency (``pip install 'compverify[dask]'``); a missing
package, a malformed spec and a scheduler that does not answer within the timeout are each a
one-line :class:`~compverify.errors.CompverifyError`.

>>> parse_dask("local:4"), parse_dask("tcp://10.0.0.5:8786")
(('local', 4), ('tcp', 'tcp://10.0.0.5:8786'))
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from compverify.errors import CompverifyError

__all__ = ["CONNECT_TIMEOUT", "MAX_LOCAL_WORKERS", "connect", "one_blas_thread", "parse_dask",
           "run_unordered"]

#: Seconds to wait for a scheduler before giving up (``--dask tcp://...``).
CONNECT_TIMEOUT = 10.0
#: Most worker processes ``local:N`` starts.
MAX_LOCAL_WORKERS = 256
_INSTALL = "pip install 'compverify[dask]' (or pip install distributed)"
_TCP = re.compile(r"^(tcp|tls)://[A-Za-z0-9.\-]+:\d{1,5}$|^(tcp|tls)://\[[0-9A-Fa-f:]+\]:\d{1,5}$")


def parse_dask(spec: str, *, option: str = "--dask") -> tuple[str, Any]:
    """``("local", N)`` for ``local:N``, ``("tcp", address)`` for ``tcp://HOST:PORT`` (or
    ``tls://``); anything else is a one-line error naming the value."""
    text = str(spec).strip()
    if text.startswith("local:"):
        n = text[len("local:"):]
        if not n.isdigit() or not 1 <= int(n) <= MAX_LOCAL_WORKERS:
            raise CompverifyError(f"{option} {spec!r}: local:N needs a worker count N in "
                                  f"[1, {MAX_LOCAL_WORKERS}]")
        return "local", int(n)
    if _TCP.match(text):
        port = int(text.rsplit(":", 1)[1])
        if not 1 <= port <= 65535:
            raise CompverifyError(f"{option} {spec!r}: port {port} is not in [1, 65535]")
        return "tcp", text
    raise CompverifyError(f"{option} {spec!r} is not local:N or tcp://HOST:PORT")


def one_blas_thread() -> Any:
    """A context in which the BLAS libraries loaded (numpy's, SciPy's) use one thread, so that a
    case computes the same bits in any process (module docstring)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise CompverifyError(f"--dask needs the package distributed: {_INSTALL}") from None
    return distributed


@contextmanager
def connect(spec: Any, *, timeout: float | None = None,
            option: str = "--dask") -> Iterator[Any]:
    """A :class:`distributed.Client` for ``spec`` (``local:N``, ``tcp://HOST:PORT``, or a client
    to use as it is), closed on exit (with the local cluster it started).  ``timeout``: seconds
    to wait for a scheduler (default :data:`CONNECT_TIMEOUT`)."""
    if not isinstance(spec, str):  # a Client the caller owns
        yield spec
        return
    kind, value = parse_dask(spec, option=option)
    timeout = CONNECT_TIMEOUT if timeout is None else float(timeout)
    dist = _distributed()
    if kind == "local":
        cluster = dist.LocalCluster(n_workers=value, threads_per_worker=1, processes=True,
                                    dashboard_address=None, silence_logs=logging.ERROR)
        try:
            with dist.Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = dist.Client(value, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CompverifyError(f"{option} {spec!r}: no Dask scheduler answered within "
                              f"{timeout:g} s ({reason[:160]})") from None
    try:
        yield client
    finally:
        client.close()


def _timed(fn: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[Any, dict]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}


def run_unordered(client: Any, fn: Callable[..., Any], items: Sequence[Any],
                  args_of: Callable[[Any], tuple], *, kwargs: dict | None = None,
                  name: str = "case") -> Iterable[tuple[Any, Any, dict, BaseException | None]]:
    """Run ``fn(*args_of(item), **kwargs)`` for every item on the cluster; yield
    ``(item, result, seconds, error)`` as each finishes (``seconds``: ``{"wall", "cpu"}``, the
    wall and process CPU time the case took on its worker, empty for a failed case; ``error``:
    the exception it raised, or :class:`distributed.KilledWorker` when it killed workers too
    often, with ``result`` ``None``).

    Tasks are submitted with ``pure=False`` and a key per item, so a rerun of the same item is a
    new task.  Closing the generator early (an exception in the caller) cancels what is left.
    """
    dist = _distributed()
    kwargs = kwargs or {}
    futures = {}
    for i, item in enumerate(items):
        fut = client.submit(_timed, fn, args_of(item), kwargs, pure=False,
                            key=f"compverify-{name}-{i}-{uuid.uuid4().hex}")
        futures[fut] = item
    pending = dist.as_completed(list(futures))
    try:
        for fut in pending:
            item = futures[fut]
            try:
                result, seconds = fut.result()
                yield item, result, seconds, None
            except CompverifyError:
                raise
            except Exception as exc:  # noqa: BLE001 - the caller records it for this item
                yield item, None, {}, exc
            finally:
                fut.release()
    finally:
        remaining = [f for f in futures if not f.done()]
        if remaining:
            client.cancel(remaining)
