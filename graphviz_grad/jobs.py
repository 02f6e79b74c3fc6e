"""The server's workers: pools of processes that heal themselves, and fair turns between clients.

>>> turns = FairTurns(workers=2, per_client=3, per_address=8)
>>> turns.state()
{'workers': 2, 'running': 0, 'waiting': 0, 'clients': 0, 'addresses': 0}

A `Workers` pool runs jobs in processes from ``pebble`` started by a fork server (no fork of a
process that runs threads). Each worker gets the job's memory bound (`graphviz_grad.limits`)
before its first job; each job has a time limit after which its process is killed. A watchdog
looks at the pool twice a second: a dead fork server is started again, and a pool that pebble
has given up on (its manager thread died, which is what a killed fork server does) is replaced
by a new one; a job that was lost with its worker or its pool is run once more on the new one.

`FairTurns` decides which waiting request gets the next free worker: the network address
whose clients have used the least worker time lately, and among its clients the one that has
(decaying sums, so a client that sent slow jobs a minute ago is not punished for ever), first
come first served among equals. A client may have at most ``per_client`` jobs waiting or
running, an address at most ``per_address`` for all its clients together (more answers 429),
and a client runs at most ``workers - 1`` at once while others wait, so one client's slow jobs
never hold up another's by more than the length of one job. The address level is what a client
cannot choose: one that names itself anew with every request (a forged session) still shares
its address's turns and cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.forkserver
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pebble import ProcessExpired, ProcessPool

from .limits import limit_memory

HALF_LIFE = 30.0
"""Seconds after which a client's used worker time counts half in choosing who goes next."""
PRELOAD = ("graphviz_grad._preload",)
"""Modules the fork server loads before it forks a worker: the library, SymPy and the seed's
results, so a new worker starts warm."""
WATCH = 0.5
"""Seconds between two looks of the watchdog at a pool."""
log = logging.getLogger("graphviz_grad.web")


class TooManyJobs(Exception):
    """A client has its share of jobs waiting or running already (429)."""


class PoolBroken(Exception):
    """A job was lost twice with its worker or its pool (the server's fault: 503)."""


@dataclass
class _Share:
    """The worker time a client or an address used lately: seconds, decayed to ``stamp``."""

    used: float = 0.0
    stamp: float = 0.0

    def now(self, now: float) -> float:
        return self.used * 0.5 ** ((now - self.stamp) / HALF_LIFE)

    def add(self, seconds: float, now: float) -> None:
        self.used, self.stamp = self.now(now) + seconds, now


@dataclass
class _Client(_Share):
    address: str = ""
    running: int = 0
    waiting: list[asyncio.Future[None]] = field(default_factory=list)


@dataclass
class _Address(_Share):
    jobs: int = 0  # waiting or running, of all its clients
    clients: int = 0


class FairTurns:
    """Turns at ``workers`` workers for requests from many clients (see the module's notes)."""

    def __init__(self, workers: int, per_client: int, per_address: int | None = None):
        self.workers = workers
        self.per_client = per_client
        self.per_address = per_address
        """Jobs waiting or running from one address, all its clients together (None: no cap)."""
        self.running = 0
        self.clients: dict[str, _Client] = {}
        self.addresses: dict[str, _Address] = {}
        self.queued: dict[str, _Client] = {}  # the clients with jobs waiting, in order of arrival
        self.swept = time.monotonic()

    def state(self) -> dict[str, int]:
        waiting = sum(len(client.waiting) for client in self.queued.values())
        return {"workers": self.workers, "running": self.running, "waiting": waiting,
                "clients": len(self.clients), "addresses": len(self.addresses)}

    async def acquire(self, key: str, address: str = "") -> None:
        """Wait for a worker for the client ``key`` at ``address``; `TooManyJobs` when the client
        or its address has its share already. (A key belongs to the address it first came from:
        the caller puts the address in the key.)"""
        now = time.monotonic()
        client = self.clients.get(key)
        if client is None:
            client = self.clients[key] = _Client(stamp=now, address=address)
            self.addresses.setdefault(address, _Address(stamp=now)).clients += 1
        place = self.addresses[client.address]
        refusal = (f"this client has {self.per_client} jobs waiting or running already"
                   if client.running + len(client.waiting) >= self.per_client else
                   f"this address has {self.per_address} jobs waiting or running already"
                   if self.per_address is not None and place.jobs >= self.per_address else None)
        if refusal:
            self._forget(key)
            raise TooManyJobs(refusal)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        client.waiting.append(turn)
        self.queued.setdefault(key, client)
        place.jobs += 1
        self._dispatch()
        try:
            await turn
        except BaseException:
            if turn in client.waiting:
                client.waiting.remove(turn)
                place.jobs -= 1
                if not client.waiting:
                    self.queued.pop(key, None)
            elif turn.done() and not turn.cancelled():  # given a worker just as the wait ended
                self.release(key, 0.0)
            self._forget(key)
            raise

    def release(self, key: str, seconds: float) -> None:
        """A job of ``key`` ended after ``seconds`` on its worker."""
        client = self.clients[key]
        place = self.addresses[client.address]
        now = time.monotonic()
        client.add(seconds, now)
        place.add(seconds, now)
        client.running -= 1
        place.jobs -= 1
        self.running -= 1
        self._dispatch()
        self._forget(key)
        if now - self.swept > HALF_LIFE:  # clients that never came back
            self.swept = now
            for idle in list(self.clients):
                self._forget(idle)

    def _dispatch(self) -> None:
        now = time.monotonic()
        while self.running < self.workers and self.queued:
            others = len(self.queued) > 1
            # A turn cancelled a moment ago (its request gave up) stays in `waiting` until its
            # waiter runs again and does the bookkeeping (`acquire`): it is never given a worker.
            ready = [(key, client) for key, client in self.queued.items()
                     if (not others or client.running < max(1, self.workers - 1))
                     and any(not turn.done() for turn in client.waiting)]
            if not ready:
                return
            key, client = min(ready, key=lambda item: (
                self.addresses[item[1].address].now(now), item[1].now(now), item[1].running))
            turn = next(turn for turn in client.waiting if not turn.done())
            client.waiting.remove(turn)
            if not client.waiting:
                del self.queued[key]
            client.running += 1
            self.running += 1
            turn.set_result(None)

    def _forget(self, key: str) -> None:
        """Drop a client with nothing waiting or running once its used time has faded (under
        10 ms); an address goes with its last client."""
        client = self.clients.get(key)
        if client and not client.running and not client.waiting and client.now(time.monotonic()) < 0.01:
            del self.clients[key]
            place = self.addresses[client.address]
            place.clients -= 1
            if not place.clients:
                del self.addresses[client.address]


class Workers:
    """A pool of ``size`` worker processes that rebuilds itself when it breaks."""

    def __init__(self, name: str, size: int, *, memory: int | None,
                 warm_up: Callable[[], None] | None = None):
        self.name = name
        self.size = size
        self.memory = memory
        self.warm_up = warm_up
        self.rebuilds = 0
        self.ready = False
        self.pool = self._new_pool()
        self._watchdog: asyncio.Task[None] | None = None
        self._rebuilding: asyncio.Task[None] | None = None

    def _new_pool(self) -> ProcessPool:
        context = multiprocessing.get_context("forkserver")
        # the fork server imports these once; every worker it forks starts with them loaded
        context.set_forkserver_preload(list(PRELOAD))
        return ProcessPool(max_workers=self.size, initializer=_start_worker,
                           initargs=(self.memory, self.warm_up), context=context)

    async def start(self) -> None:
        """Start the processes, wait until each has warmed up, and start the watchdog."""
        await self._warm()
        self._watchdog = asyncio.ensure_future(self._watch())

    async def _warm(self) -> None:
        self.ready = False
        jobs = [asyncio.wrap_future(self.pool.schedule(_nothing)) for _ in range(self.size)]
        await asyncio.gather(*jobs)
        self.ready = True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH)
            healthy = await asyncio.get_running_loop().run_in_executor(None, self.healthy)
            if not healthy and self._rebuilding is None:
                log.warning("the %s pool broke: starting a new one", self.name)
                await self.rebuild()

    def healthy(self) -> bool:
        """Whether the pool is running (pebble's threads alive); starts the fork server again if it died."""
        with contextlib.suppress(Exception):  # (it can fail only while the machine is out of processes)
            multiprocessing.forkserver.ensure_running()
        return self.pool.active

    async def rebuild(self) -> None:
        """Replace the pool (once, however many requests ask at the same time)."""
        if self._rebuilding is None:
            self._rebuilding = asyncio.ensure_future(self._replace())
        try:
            await asyncio.shield(self._rebuilding)
        finally:
            self._rebuilding = None

    async def _replace(self) -> None:
        old, self.pool = self.pool, self._new_pool()
        self.rebuilds += 1
        old.stop()
        asyncio.get_running_loop().run_in_executor(None, _join, old)  # in the background
        await self._warm()

    async def run(self, function: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        """``function(*args)`` in a worker, at most ``timeout`` seconds; a job lost with its worker
        or its pool runs once more, then `PoolBroken`. A job over its time raises TimeoutError."""
        for attempt in (1, 2):
            pool = self.pool
            try:
                job = pool.schedule(function, args, timeout=timeout)
                return await _await_job(job, lambda pool=pool: self.pool is not pool)  # type: ignore[misc]
            except (ProcessExpired, RuntimeError, PoolReplaced) as lost:
                if isinstance(lost, RuntimeError) and pool.active and pool is self.pool:
                    raise  # not a pool failure: the job's own error
                log.warning("a %s job was lost (%s): %s", self.name, lost,
                            "running it again" if attempt == 1 else "giving up")
                if not pool.active and pool is self.pool:
                    await self.rebuild()
        raise PoolBroken(f"the {self.name} job's worker stopped unexpectedly twice")

    def state(self) -> dict[str, Any]:
        manager = getattr(getattr(self.pool, "_pool_manager", None), "worker_manager", None)
        workers = getattr(manager, "workers", {})
        pids = sorted(pid for pid, process in list(workers.items()) if process.is_alive())
        healthy = self.pool.active and self.ready and self._rebuilding is None
        return {"ok": healthy and len(pids) == self.size,
                "state": "ok" if healthy else "rebuilding" if self.rebuilds else "starting",
                "pids": pids, "rebuilds": self.rebuilds, "memory": self.memory}

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self.pool.stop()
        await asyncio.get_running_loop().run_in_executor(None, _join, self.pool)


class PoolReplaced(Exception):
    """A job's pool was replaced before the job ended: a stopped pebble pool may never settle
    the futures of the jobs it had, so the job counts as lost (and runs on the new pool)."""


async def _await_job(job: Any, replaced: Callable[[], bool] = lambda: False) -> Any:
    """A pebble future's result; if the caller stops waiting, the job is cancelled (its worker
    is stopped only when it had started). `PoolReplaced` when ``replaced()`` turns true first
    (looked at every `WATCH` seconds)."""
    waiting = asyncio.wrap_future(job)
    try:
        while True:
            done, _ = await asyncio.wait({waiting}, timeout=WATCH)
            if done:
                return waiting.result()
            if replaced():
                raise PoolReplaced("its pool was replaced")
    except (asyncio.CancelledError, PoolReplaced):
        job.cancel()
        waiting.add_done_callback(_collect)
        raise


def _collect(future: asyncio.Future[Any]) -> None:
    with contextlib.suppress(BaseException):
        future.result()


def _join(pool: ProcessPool) -> None:
    with contextlib.suppress(Exception):
        pool.join(timeout=10)


def _start_worker(memory: int | None, warm_up: Callable[[], None] | None) -> None:
    """A worker's start: its memory bound first, then the warm-up (which must fit in it)."""
    limit_memory(memory)
    if warm_up is not None:
        warm_up()


def _nothing() -> None:
    """A job that only waits for a worker to have started (and warmed up)."""

