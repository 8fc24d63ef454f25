"""The service's parts without a server: the micro-batcher, the settings, naming model files."""

import asyncio
import re

import pytest

from pipelines.serve.batching import MicroBatcher
from pipelines.serve.models import ModelFileError, resolve_specs
from pipelines.serve.settings import Settings, parse_bytes, parse_pixels


def run(coroutine):
    return asyncio.run(coroutine)


def test_batches_never_mix_requests_and_keep_their_order():
    batches = []

    def double(items):
        batches.append(list(items))
        return [("answer", item) for item in items]

    async def main():
        batcher = MicroBatcher(double, max_batch=4, max_wait=0.05)
        batcher.start()
        jobs = [[(j, i) for i in range(size)] for j, size in enumerate([1, 5, 3, 7, 2, 1])]
        answers = await asyncio.gather(*(batcher.submit(job) for job in jobs))
        await batcher.close()
        return jobs, answers

    jobs, answers = run(main())
    for job, answer in zip(jobs, answers):
        assert answer == [("answer", item) for item in job]
    assert all(len(batch) <= 4 for batch in batches)
    assert sorted(item for batch in batches for item in batch) == sorted(
        item for job in jobs for item in job
    )
    # the 19 items of six concurrent jobs went in full batches of 4 (and the rest)
    assert [len(b) for b in batches] == [4, 4, 4, 4, 3]
    order = [item for batch in batches for item in batch]
    assert order == [item for job in jobs for item in job]  # first come, first served


def test_a_full_batch_does_not_wait():
    seen = []

    async def main():
        # a wait of 10 s would time the test out; a full batch must go at once
        batcher = MicroBatcher(
            lambda items: seen.append(len(items)) or items, max_batch=4, max_wait=10
        )
        batcher.start()
        answers = await asyncio.wait_for(
            asyncio.gather(*(batcher.submit([i]) for i in range(4))), timeout=5
        )
        await batcher.close()
        return answers

    assert run(main()) == [[0], [1], [2], [3]]
    assert seen == [4]


def test_a_failing_batch_fails_its_requests_and_the_batcher_goes_on():
    def fragile(items):
        if "bad" in items:
            raise ValueError("cannot run this batch")
        return [item.upper() for item in items]

    async def main():
        batcher = MicroBatcher(fragile, max_batch=8, max_wait=0.01)
        batcher.start()
        first = await asyncio.gather(
            batcher.submit(["a", "bad"]), batcher.submit(["b"]), return_exceptions=True
        )
        later = await batcher.submit(["c", "d"])
        await batcher.close()
        return first, later

    first, later = run(main())
    assert all(isinstance(e, ValueError) and str(e) == "cannot run this batch" for e in first)
    assert later == ["C", "D"]


def test_a_cancelled_request_is_left_out():
    seen = []

    async def main():
        batcher = MicroBatcher(lambda items: seen.extend(items) or items, max_batch=8, max_wait=0.2)
        batcher.start()
        gone = asyncio.ensure_future(batcher.submit(["gone"]))
        await asyncio.sleep(0)
        stays = asyncio.ensure_future(batcher.submit(["stays"]))
        await asyncio.sleep(0)
        assert batcher.waiting == 2
        gone.cancel()
        answer = await stays
        await batcher.close()
        return answer

    assert run(main()) == ["stays"]
    assert seen == ["stays"]


def test_settings_and_their_parsers():
    assert Settings().max_batch == 64 and Settings().max_body == 32 << 20
    assert Settings().max_pixels == 4096 * 4096
    assert "s3cret" not in repr(Settings(api_key="s3cret"))
    with pytest.raises(ValueError, match=re.escape("Settings.max_images must be a positive int")):
        Settings(max_images=0)
    with pytest.raises(ValueError, match=re.escape("Settings.max_wait_ms must be a number")):
        Settings(max_wait_ms=-1)
    assert parse_bytes("32MiB") == 32 << 20 and parse_bytes("1.5k") == 1500
    assert parse_pixels("64x32") == 2048 and parse_pixels("100") == 100
    for bad in ("12XB", "", "-5"):
        with pytest.raises(ValueError, match="expected a size"):
            parse_bytes(bad)
    with pytest.raises(ValueError, match="expected ROWSxCOLS"):
        parse_pixels("big")


def test_model_arguments_name_models(tmp_path):
    (tmp_path / "a.skops").write_bytes(b"")
    (tmp_path / "b.skops").write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"")
    assert resolve_specs([str(tmp_path)]) == [
        ("a", str(tmp_path / "a.skops")),
        ("b", str(tmp_path / "b.skops")),
    ]
    assert resolve_specs([f"cats={tmp_path / 'a.skops'}"]) == [("cats", str(tmp_path / "a.skops"))]
    with pytest.raises(ModelFileError, match="Two models are named 'a'"):
        resolve_specs([str(tmp_path), str(tmp_path / "a.skops")])
    with pytest.raises(ModelFileError, match="is not usable in a URL"):
        resolve_specs([str(tmp_path / "a b.skops")])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelFileError, match=re.escape(f"Model folder {str(empty)!r} holds no")):
        resolve_specs([str(empty)])


def test_close_fails_the_requests_still_waiting():
    async def main():
        batcher = MicroBatcher(lambda items: items, max_batch=8, max_wait=30)
        batcher.start()
        waiting = asyncio.ensure_future(batcher.submit(["a"]))
        await asyncio.sleep(0.05)
        assert batcher.waiting == 1
        await batcher.close()
        # at once: a request left unanswered would hang its client
        return await asyncio.gather(asyncio.wait_for(waiting, 5), return_exceptions=True)

    (error,) = run(main())
    assert isinstance(error, RuntimeError) and str(error) == "The server is shutting down."


def test_a_batch_function_that_answers_too_few_fails_its_requests():
    async def main():
        batcher = MicroBatcher(lambda items: items[:-1], max_batch=8, max_wait=0.01)
        batcher.start()
        answers = await asyncio.gather(batcher.submit(["a", "b"]), return_exceptions=True)
        await batcher.close()
        return answers

    (error,) = run(main())
    assert isinstance(error, RuntimeError) and str(error) == "1 outputs for a batch of 2."
