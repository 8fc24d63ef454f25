"""Dynamic batching: the images of concurrent requests run through a pipeline together.

A request hands its images to :meth:`MicroBatcher.submit` as one job and awaits the answers.
One collector task per model takes images from the front of the queue of jobs, in arrival
order, until it holds ``max_batch`` images or the oldest waiting image has waited
``max_wait`` seconds, and runs them through the pipeline in the model's worker thread, off
the event loop; while that batch runs, the next one gathers. A job larger than a batch is
split over several batches. Each image keeps its (job, position) slot from the queue to the
answer, so a request gets exactly its own answers, in its own order.
"""

import asyncio
import collections
from concurrent.futures import ThreadPoolExecutor


class _Job:
    __slots__ = ("items", "future", "arrived", "taken", "outputs", "remaining")

    def __init__(self, items, future, arrived):
        self.items = items
        self.future = future
        self.arrived = arrived
        self.taken = 0  # items handed to batches so far
        self.outputs = [None] * len(items)
        self.remaining = len(items)


class MicroBatcher:
    """Gather items of concurrent requests into batches, and run each batch off the loop.

    Parameters
    ----------
    run : callable
        ``run(items) -> outputs``, one output per item in order; called in the batcher's
        worker thread with at most ``max_batch`` items.
    max_batch : int
        Most items per call of ``run``.
    max_wait : float
        Seconds the oldest waiting item may wait for others to join it.
    name : str
        Names the worker thread.
    on_batch : callable or None
        ``on_batch(n_items)``, called on the loop as each batch starts (metrics).
    on_queue : callable or None
        ``on_queue(n_waiting)``, called on the loop when the number of waiting items changes.

    Examples
    --------
    >>> import asyncio
    >>> async def main():
    ...     batcher = MicroBatcher(lambda items: [x * 2 for x in items], max_batch=8,
    ...                            max_wait=0.001)
    ...     batcher.start()
    ...     answers = await asyncio.gather(batcher.submit([1, 2]), batcher.submit([3]))
    ...     await batcher.close()
    ...     return answers
    >>> asyncio.run(main())
    [[2, 4], [6]]
    """

    def __init__(self, run, *, max_batch, max_wait, name="model", on_batch=None, on_queue=None):
        self._run = run
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._name = name
        self._on_batch = on_batch
        self._on_queue = on_queue
        self._jobs = collections.deque()
        self._waiting = 0  # items queued, not yet in a batch
        self._executor = None
        self._task = None
        self._loop = None

    @property
    def waiting(self):
        """Items queued and not yet taken into a batch."""
        return self._waiting

    def start(self):
        """Start the collector task on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"batch-{self._name}")
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._task = self._loop.create_task(self._collect(), name=f"batcher-{self._name}")

    async def call(self, function, *args):
        """Run ``function(*args)`` in the worker thread, between batches (warm-up, pictures)."""
        return await self._loop.run_in_executor(self._executor, function, *args)

    async def submit(self, items):
        """Queue ``items`` as one job; return their outputs, in order, once all have run.

        Raises whatever ``run`` raised for a batch holding any of them.
        """
        items = list(items)
        if not items:
            return []
        if self._task is None or self._task.done():
            raise RuntimeError(f"The batcher of {self._name!r} is not running.")
        job = _Job(items, self._loop.create_future(), self._loop.time())
        self._jobs.append(job)
        self._set_waiting(self._waiting + len(items))
        self._wake.set()
        if self._waiting >= self._max_batch:
            self._full.set()
        return await job.future

    async def close(self):
        """Stop collecting (answering nothing more) and end the worker thread."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for job in self._jobs:
            if not job.future.done():
                job.future.set_exception(RuntimeError("The server is shutting down."))
        self._jobs.clear()
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, wait=True)

    def _set_waiting(self, n):
        self._waiting = n
        if self._on_queue is not None:
            self._on_queue(n)

    async def _collect(self):
        loop = self._loop
        while True:
            if not self._jobs:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = self._jobs[0].arrived + self._max_wait - loop.time()
            if self._waiting < self._max_batch and delay > 0:
                self._full.clear()
                try:
                    await asyncio.wait_for(self._full.wait(), delay)
                except asyncio.TimeoutError:
                    pass
            items, slots = self._take()
            if not items:
                continue
            if self._on_batch is not None:
                self._on_batch(len(items))
            try:
                outputs = await loop.run_in_executor(self._executor, self._run, items)
                if len(outputs) != len(items):
                    raise RuntimeError(f"{len(outputs)} outputs for a batch of {len(items)}.")
            except Exception as exc:  # the batch's requests fail; the batcher goes on
                for job, _ in slots:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            for (job, index), output in zip(slots, outputs):
                job.outputs[index] = output
                job.remaining -= 1
                if job.remaining == 0 and not job.future.done():
                    job.future.set_result(job.outputs)

    def _take(self):
        """Up to ``max_batch`` items from the front of the queue, with their (job, index)."""
        items, slots = [], []
        waiting = self._waiting
        while self._jobs and len(items) < self._max_batch:
            job = self._jobs[0]
            left = len(job.items) - job.taken
            if job.future.done():  # cancelled by its request, or failed in an earlier batch
                waiting -= left
                self._jobs.popleft()
                continue
            k = min(self._max_batch - len(items), left)
            for index in range(job.taken, job.taken + k):
                items.append(job.items[index])
                slots.append((job, index))
            job.taken += k
            waiting -= k
            if job.taken == len(job.items):
                self._jobs.popleft()
        self._set_waiting(waiting)
        return items, slots
