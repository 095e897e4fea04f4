"""The distributed engine: Dask distributed, one task per submission.

Without ``--scheduler``: a LocalCluster of ``--workers`` worker processes (threads_per_worker=1,
loopback only), each with BLAS and torch at one thread so that N workers do not fight over the
cores (Dask's nanny sets OMP/MKL/OPENBLAS_NUM_THREADS=1 in its workers; ``sandbox.prepare`` sets
torch's). With ``--scheduler tcp://HOST:PORT``: a running cluster (``dask scheduler`` and ``dask
worker``, or dask-jobqueue's Slurm workers) whose workers have lockstep installed and see the
submissions and DIR at the same paths (a shared filesystem). The address is probed with a plain
TCP connect first (Dask's Client retries a dead address for its whole timeout), then asked who it
is under one deadline (a port that accepts and stays silent would hang Dask's Client).

Why Dask and not Ray: docs/grade.md.
"""
import logging
import os
import socket
import warnings
from contextlib import contextmanager
from urllib.parse import urlsplit

from comparisons.errors import InputError

PROBE_SECONDS = 10.0    # a scheduler that does not accept a TCP connection in 10 s is not there (on a LAN
                        # a connect takes < 1 ms; a remote cluster through a tunnel, tens of ms)
CONNECT_SECONDS = 30    # workers joining a scheduler that has none yet
HELLO_SECONDS = 10.0    # the scheduler's answer to Dask's handshake and an "identity" request, all told: a live
                        # scheduler answers in milliseconds; Client(timeout=...) alone does not bound a port that
                        # accepts and stays silent


def probe(address: str, seconds: float = PROBE_SECONDS) -> None:
    """InputError, one line, unless ``tcp://HOST:PORT`` accepts a TCP connection within ``seconds``."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if parts.scheme != "tcp" or not host or not port:
        raise InputError(f"--scheduler {address!r}: expected tcp://HOST:PORT (e.g. tcp://127.0.0.1:8786)")
    try:
        socket.create_connection((host, port), timeout=seconds).close()
    except socket.timeout:
        raise InputError(f"--scheduler {address}: no answer within {seconds:g} s") from None
    except OSError as e:
        raise InputError(f"--scheduler {address}: cannot connect: {e.strerror or e}") from None


def hello(address: str, seconds: float = HELLO_SECONDS) -> None:
    """InputError, one line, unless a Dask scheduler at ``address`` completes Dask's handshake and answers who
    it is within ``seconds`` (one deadline over the connection, the handshake and the reply)."""
    import asyncio

    from distributed.comm import connect

    async def ask():
        comm = await connect(address, timeout=seconds)
        try:
            await comm.write({"op": "identity"})
            return await comm.read()
        finally:
            comm.abort()
    try:
        reply = asyncio.run(asyncio.wait_for(ask(), seconds))
    except (asyncio.TimeoutError, TimeoutError):
        raise InputError(f"--scheduler {address}: the port accepts but no Dask scheduler answered within "
                         f"{seconds:g} s") from None
    except Exception as e:      # noqa: BLE001 - a closed comm, a protocol error: anything but a scheduler
        raise InputError(f"--scheduler {address}: no Dask scheduler answers there: "
                         f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}") from None
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise InputError(f"--scheduler {address}: what answers is not a Dask scheduler "
                         f"({reply.get('type') if isinstance(reply, dict) else type(reply).__name__})")


LOGGERS = ("distributed", "distributed.worker", "distributed.nanny", "distributed.scheduler", "distributed.client",
           "distributed.core", "distributed.comm")


def quiet_logs(quiet: bool) -> int:
    """Dask's log level in this process (the in-process scheduler and client): its errors (a task lost when
    workers died) unless ``quiet``, nothing if ``quiet`` (the result records the loss); the level."""
    level = logging.CRITICAL + 1 if quiet else logging.ERROR
    for name in LOGGERS:
        logging.getLogger(name).setLevel(level)
    return level


@contextmanager
def client(workers: int, scheduler: str | None, quiet: bool = False):
    """A dask.distributed Client: on a new LocalCluster, or on the running ``scheduler``."""
    from distributed import Client, LocalCluster
    level = quiet_logs(quiet)
    if scheduler is not None:
        probe(scheduler)
        hello(scheduler)
        try:
            c = Client(scheduler, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError) as e:
            raise InputError(f"--scheduler {scheduler}: the port answers but no Dask scheduler does: {e}") from None
        try:
            yield c
        finally:
            c.close()
        return
    environment = dict(os.environ)    # the nanny sets OMP/MKL/OPENBLAS_NUM_THREADS=1 here, before each worker it
    with warnings.catch_warnings():  # spawns, and leaves them: this process's later runs would get one thread
        warnings.simplefilter("ignore")     # "Port 8787 is already in use" and the like: no dashboard here
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, memory_limit=0, silence_logs=level)
    try:
        c = Client(cluster)
        try:
            yield c
        finally:
            c.close()
    finally:
        cluster.close()
        os.environ.clear()
        os.environ.update(environment)


def run_all(c, jobs: list[dict], data_specs: list[str], on_done, progress: bool) -> dict:
    """Grade ``jobs`` on client ``c``; ``on_done(job, outcome)`` as each finishes (in the order they do).
    An outcome the engine itself lost (its worker died) says so as the submission's ``lost``.
    Returns the workers' {address: {pid, rss_mb}} after loading."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    from comparisons.grade import sandbox
    if not c.scheduler_info().get("workers"):
        try:
            c.wait_for_workers(1, timeout=CONNECT_SECONDS)
        except (TimeoutError, OSError):
            raise InputError(f"the Dask scheduler has no workers (none joined within {CONNECT_SECONDS} s): start "
                             "some with: dask worker SCHEDULER_ADDRESS --nthreads 1") from None
    loaded = c.run(sandbox.prepare, data_specs)        # every worker loads torch and the data once, up front
    futures = {c.submit(sandbox.grade, job, key=f"lockstep-grade-{job['key'][:16]}-{job['name']}", pure=False):
               job for job in jobs}
    with tqdm(total=len(jobs), disable=not progress, unit="submission", desc="grading") as bar:
        for future in as_completed(futures):
            job = futures[future]
            try:
                outcome = future.result()
            except Exception as e:      # noqa: BLE001 - the worker died (KilledWorker) or the task could not run
                outcome = {"lost": f"{type(e).__name__}: {e}".splitlines()[0][:300]}
            future.release()
            on_done(job, outcome)
            bar.update()
    return loaded
