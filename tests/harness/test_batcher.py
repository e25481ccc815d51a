"""The dynamic batcher: its bucketing, its batch limit and timeout, and a failure that is never lost."""

from __future__ import annotations

import threading
import time

import pytest

from tweetbench.harness.batcher import BatcherConfig, DynamicBatcher, bucket_for, power_of_two_buckets


def test_power_of_two_buckets_reach_the_maximum() -> None:
    assert power_of_two_buckets(1) == (1,)
    assert power_of_two_buckets(64) == (1, 2, 4, 8, 16, 32, 64)
    assert power_of_two_buckets(48) == (1, 2, 4, 8, 16, 32, 64)


@pytest.mark.parametrize(("count", "size"), [(1, 1), (2, 2), (3, 4), (5, 8), (33, 64), (64, 64)])
def test_a_batch_snaps_up_to_the_smallest_bucket_that_holds_it(count: int, size: int) -> None:
    assert bucket_for(count, power_of_two_buckets(64)) == size
    assert bucket_for(count, None) == count


def test_a_batch_beyond_the_buckets_or_empty_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds the largest bucket"):
        bucket_for(65, power_of_two_buckets(64))
    with pytest.raises(ValueError):
        bucket_for(0, None)
    with pytest.raises(ValueError, match="must reach"):
        BatcherConfig(64, 0.0, (1, 2, 4))


def _collect(config: BatcherConfig, requests: list[int], *, before_start: bool = True) -> tuple[list, list]:
    runs: list[tuple[list[int], int]] = []
    answered: list[int] = []
    done = threading.Event()

    def run(batch: list[int], size: int) -> list[int]:
        runs.append((list(batch), size))
        return [r * 10 for r in batch]

    def finish(batch: list[int], results: list[int]) -> None:
        answered.extend(results)
        if len(answered) == len(requests):
            done.set()

    batcher: DynamicBatcher[int] = DynamicBatcher(config, run, finish)
    if before_start:
        batcher.submit(requests)
    with batcher:
        if not before_start:
            batcher.submit(requests)
        assert done.wait(5)
    return runs, answered


def test_queued_requests_run_in_batches_of_at_most_the_maximum_padded_to_buckets() -> None:
    runs, answered = _collect(BatcherConfig(8, 0.0, power_of_two_buckets(8)), list(range(21)))
    assert sorted(answered) == [r * 10 for r in range(21)]
    assert [len(batch) for batch, _ in runs] == [8, 8, 5]
    assert [size for _, size in runs] == [8, 8, 8]


def test_without_buckets_a_batch_runs_at_its_own_size() -> None:
    runs, _ = _collect(BatcherConfig(8, 0.0), list(range(11)))
    assert [size for _, size in runs] == [8, 3]


def test_the_timeout_lets_a_batch_wait_for_late_requests() -> None:
    runs: list[int] = []
    done = threading.Event()
    batcher: DynamicBatcher[int] = DynamicBatcher(BatcherConfig(4, 0.3), lambda b, s: runs.append(len(b)) or b,
                                                  lambda b, r: done.set() if sum(runs) == 3 else None)
    with batcher:
        batcher.submit([1])
        time.sleep(0.05)
        batcher.submit([2, 3])
        assert done.wait(5)
    assert runs == [3]
    assert batcher.stats()["batch_sizes"] == {"3": 1}


def test_a_failing_forward_is_kept_and_the_thread_stops() -> None:
    def broken(batch: list[int], size: int) -> list[int]:
        raise RuntimeError("device lost")

    batcher: DynamicBatcher[int] = DynamicBatcher(BatcherConfig(2, 0.0), broken, lambda b, r: None)
    with batcher:
        batcher.submit([1])
        deadline = time.time() + 5
        while batcher.error is None and time.time() < deadline:
            time.sleep(0.01)
    assert isinstance(batcher.error, RuntimeError)


def test_busy_time_counts_the_seconds_spent_in_the_forward_only() -> None:
    done = threading.Event()

    def run(batch: list[int], size: int) -> list[int]:
        time.sleep(0.02)
        return batch

    batcher: DynamicBatcher[int] = DynamicBatcher(BatcherConfig(2, 0.0), run,
                                                  lambda b, r: done.set() if 4 in b else None)
    with batcher:
        batcher.submit([1, 2])
        time.sleep(0.1)  # idle: not busy time
        batcher.submit([3, 4])
        assert done.wait(5)
    stats = batcher.stats()
    assert stats["batches"] == 2 and 0.04 <= stats["busy_s"] < 0.09
    assert stats["busy_ms_per_request"] == pytest.approx(1000 * stats["busy_s"] / 4)
