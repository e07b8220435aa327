"""Progress from inside an epoch: a big model's epoch is one program that runs for seconds to
minutes, and `fit`'s progress otherwise moves only between epochs.

With `ticks` on, each batch's update calls `tick` on the host with the batch's index
(`jax.debug.callback`). `listening` points the ticks at one `fit`'s callback while it runs (one fit
at a time per process: a second listening at once takes the ticks over); a program compiled with
ticks and run with no listener ticks into nothing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

REPORT_EVERY_SECONDS = 0.5  # at most this often to the progress callback
_lock = threading.Lock()
_listener: list = []  # [Pass] while a fit listens


class _Pass:
    """Counts batches from their indices: XLA may call a tick once per batch, per seed or per
    device, so a batch counts once; a pass (one chunk's epoch) runs its batches in order, so
    batch 0 after all of them have been seen begins the next."""

    def __init__(self, callback: Callable[[int], None], batches: int):
        self.callback, self.batches = callback, max(batches, 1)
        self.passes, self.seen, self.last = 0, set(), time.perf_counter()
        self.error: Exception | None = None  # what the callback raised, for `listening` to raise

    def add(self, index: int) -> int | None:
        if index in self.seen:
            if index != 0 or len(self.seen) < self.batches:
                return None  # the same batch again (another seed's or device's call)
            self.passes, self.seen = self.passes + 1, set()  # batch 0 again: the next chunk or epoch
        self.seen.add(index)
        now = time.perf_counter()
        if now - self.last < REPORT_EVERY_SECONDS:
            return None
        self.last = now
        return self.passes * self.batches + len(self.seen)


def tick(index) -> None:
    """A batch's update is done (called by XLA on one of its threads, `index` the batch's
    number in its epoch, as one value or one per seed)."""
    with _lock:
        if not _listener or _listener[0].error is not None:
            return
        listener = _listener[0]
        done = listener.add(int(np.max(index)))
    if done is not None:
        try:
            listener.callback(done)
        except Exception as e:  # raised on XLA's thread it would come back as a JaxRuntimeError
            listener.error = e


@contextlib.contextmanager
def listening(callback: Callable[[int], None], batches: int) -> Iterator[None]:
    """Send `callback(batches done so far, counted over chunks and epochs)` now and then while
    the block runs; `batches`: an epoch's."""
    listener = _Pass(callback, batches)
    with _lock:
        _listener[:] = [listener]
    try:
        yield
    finally:
        with _lock:
            _listener.clear()
    if listener.error is not None:  # the callback's own exception, on the caller's thread
        raise listener.error


def forward_only(report: Callable[[int], None]) -> Callable[[int], None]:
    """`report` for counts that only grow, from any thread: the ticks and `fit`'s own count
    after each chunk arrive from two threads, and a bar must not step back."""
    lock, last = threading.Lock(), [0]

    def show(n: int) -> None:
        with lock:
            if n <= last[0]:
                return
            last[0] = n
            report(n)

    return show
