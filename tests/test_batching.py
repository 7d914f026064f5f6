"""`zoo.serving.batching.Batcher` on its own: how requests merge, the queue bound, closing.

The model is a plain function here (x -> 2x), so each test sees exactly which batches ran.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from zoo.serving.batching import Batcher, BatchingOptions
from zoo.serving.errors import InvalidArgument, ResourceExhausted, Unavailable


class Model:
    """Doubles its input and records each batch's size; `gate` can hold a call."""

    def __init__(self):
        self.batches: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def __call__(self, inputs):
        self.entered.set()
        assert self.gate.wait(30), "the test never released the model"
        self.batches.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2}


def _inputs(value: float, rows: int = 1):
    return {"x": np.full((rows, 3), value, np.float32)}


def test_requests_submitted_in_one_pass_of_the_event_loop_become_one_batch():
    model = Model()
    batcher = Batcher(model, BatchingOptions(max_batch_size=32, batch_timeout_s=0.5))

    async def main():
        loop = asyncio.get_running_loop()
        futures = [batcher.submit(_inputs(i, rows=1 + i % 2), loop) for i in range(10)]  # no await between
        return await asyncio.gather(*futures)

    answers = asyncio.run(main())
    batcher.close()
    assert model.batches == [15]  # 10 requests, 15 rows, one call: no waiting for the timeout either
    for i, answer in enumerate(answers):
        np.testing.assert_array_equal(answer["y"], np.full((1 + i % 2, 3), 2 * i, np.float32))


def test_a_lone_request_runs_at_once_instead_of_waiting_out_the_timeout():
    """Nothing else is on its way, so nothing can join the batch: the timeout (a minute here)
    is not waited out, for a thread's request or an event loop's."""
    model = Model()
    batcher = Batcher(model, BatchingOptions(max_batch_size=32, batch_timeout_s=60))
    began = time.monotonic()
    assert float(batcher.submit(_inputs(1)).result(timeout=30)["y"][0, 0]) == 2.0

    async def main():
        return await batcher.submit(_inputs(2), asyncio.get_running_loop())

    assert float(asyncio.run(main())["y"][0, 0]) == 4.0
    assert time.monotonic() - began < 10, "a lone request waited for the batch timeout"
    batcher.close()
    assert model.batches == [1, 1]


def test_requests_arriving_while_the_model_runs_form_the_next_batch():
    """Under load batches grow by themselves: what queues during one call is the next batch."""
    model = Model()
    model.gate.clear()
    batcher = Batcher(model, BatchingOptions(max_batch_size=32, batch_timeout_s=0))
    first = batcher.submit(_inputs(0))
    assert model.entered.wait(30)  # the worker runs request 0 alone: nothing else was queued
    later = [batcher.submit(_inputs(i)) for i in range(1, 6)]
    model.gate.set()
    assert [float(f.result(timeout=30)["y"][0, 0]) for f in [first, *later]] == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    batcher.close()
    assert model.batches == [1, 5]


def test_a_batch_never_exceeds_the_maximum_and_requests_keep_their_order():
    model = Model()
    batcher = Batcher(model, BatchingOptions(max_batch_size=4, batch_timeout_s=0.05))

    async def main():
        loop = asyncio.get_running_loop()
        return await asyncio.gather(*[batcher.submit(_inputs(i, rows=3), loop) for i in range(5)])

    answers = asyncio.run(main())
    batcher.close()
    assert model.batches == [3, 3, 3, 3, 3]  # 3 + 3 > 4: each request is its own batch
    assert [float(answer["y"][0, 0]) for answer in answers] == [0.0, 2.0, 4.0, 6.0, 8.0]
    with pytest.raises(InvalidArgument, match="Task size 5 is larger than maximum input batch size 4"):
        Batcher(Model(), BatchingOptions(max_batch_size=4)).submit(_inputs(0, rows=5))


def test_a_full_queue_refuses_at_once_and_everything_accepted_is_answered():
    model = Model()
    model.gate.clear()
    batcher = Batcher(model, BatchingOptions(max_batch_size=1, batch_timeout_s=0, max_enqueued_requests=3))
    running = batcher.submit(_inputs(0))
    assert model.entered.wait(30)  # the worker holds request 0 inside the model
    queued = [batcher.submit(_inputs(i)) for i in (1, 2, 3)]
    with pytest.raises(ResourceExhausted, match="queue is full .3 requests waiting"):
        batcher.submit(_inputs(4))
    model.gate.set()
    assert [float(f.result(timeout=30)["y"][0, 0]) for f in [running, *queued]] == [0.0, 2.0, 4.0, 6.0]
    batcher.submit(_inputs(5)).result(timeout=30)  # room again
    batcher.close()


def test_closing_answers_requests_still_on_their_way_from_the_event_loop():
    """close() between submit and the loop's hand-over: those requests are still answered, and
    later ones are refused with Unavailable (the server then calls the model directly)."""
    model = Model()
    batcher = Batcher(model, BatchingOptions(max_batch_size=8, batch_timeout_s=0.01))

    async def main():
        loop = asyncio.get_running_loop()
        futures = [batcher.submit(_inputs(i), loop) for i in range(5)]
        batcher.close()  # before this pass of the loop ends, so before the hand-over
        with pytest.raises(Unavailable):
            batcher.submit(_inputs(9), loop)
        return await asyncio.wait_for(asyncio.gather(*futures), 30)

    answers = asyncio.run(main())
    assert [float(answer["y"][0, 0]) for answer in answers] == [0.0, 2.0, 4.0, 6.0, 8.0]
    batcher._thread.join(timeout=30)
    assert not batcher._thread.is_alive()


def test_a_model_failure_reaches_every_request_of_the_batch():
    def broken(inputs):
        raise RuntimeError("model exploded")

    batcher = Batcher(broken, BatchingOptions(max_batch_size=8, batch_timeout_s=0.05))

    async def main():
        loop = asyncio.get_running_loop()
        return await asyncio.gather(*[batcher.submit(_inputs(i), loop) for i in range(3)], return_exceptions=True)

    errors = asyncio.run(main())
    batcher.close()
    assert [str(error) for error in errors] == ["model exploded"] * 3
