"""LoadGen's SUT for the LitServe server: every query becomes an HTTP POST, sent asynchronously (aiohttp, one
event loop in a thread of its own), its answer handed back to LoadGen as it arrives. A failed request is
answered class -1 (so LoadGen ends) and counted; the serve scenario reports the count as a problem."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import torch

from tweetbench.harness.sut import CompleteFn, Request

# LitServe's ``accelerator`` for each device kind it can serve on; a kind missing here has no LitServe path.
LITSERVE_ACCELERATORS = {"cpu": "cpu", "gpu": "cuda"}
LITSERVE_MISSING = ("LitServe runs its workers on cpu, cuda or mps (LitServer's accelerator): it has no XLA "
                    "device, so on {kind} only the in-process SUT serves")
# Connections kept open to the server: enough for a Server run's queue, few enough for its one HTTP process.
CONNECTIONS = 64


def litserve_problem(kind: str) -> str:
    """Why LitServe cannot serve on this device kind, or ''."""
    return "" if kind in LITSERVE_ACCELERATORS else LITSERVE_MISSING.format(kind=kind)


class HTTPSUT:
    """The SUT that posts each sample's tokens to ``url`` and completes it with the class the server answers."""

    def __init__(self, url: str, tokens: torch.Tensor, complete: CompleteFn, timeout_s: float = 300.0) -> None:
        self.url, self.complete, self.timeout_s = url, complete, timeout_s
        self.bodies = [{"tokens": row} for row in tokens.tolist()]
        self.errors: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tweetbench-http", daemon=True)
        self._session: Any = None
        self._pending: set[asyncio.Future[Any]] = set()

    def __enter__(self) -> HTTPSUT:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(self.timeout_s + 30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _open(self) -> None:
        import aiohttp

        # No total timeout: a request may wait long for one of the pool's connections (Offline sends every sample
        # at once), and one given up here would stay queued in the server and slow every later run. Only a
        # server that stops answering on an open connection (``sock_read``) is given up on.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONNECTIONS),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=self.timeout_s))

    async def _close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._session.close()

    def issue(self, requests: list[Request]) -> None:
        self._loop.call_soon_threadsafe(self._spawn, list(requests))

    def flush(self) -> None:
        """Nothing is held back."""

    def _spawn(self, requests: Sequence[Request]) -> None:
        for rid, index in requests:
            task = self._loop.create_task(self._post(rid, index))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _post(self, rid: int, index: int) -> None:
        answer = -1
        try:
            async with self._session.post(self.url, json=self.bodies[index]) as response:
                if response.status == 200:
                    answer = int((await response.json())["class"])
                else:
                    self._count(f"HTTP {response.status}")
        except Exception as exc:  # noqa: BLE001  (every failure still answers LoadGen, and is counted)
            self._count(type(exc).__name__)
        self.complete([rid], [answer])

    def _count(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1
