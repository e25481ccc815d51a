import pytest
import torch

from tweetbench.config import WORKLOADS, DataSource
from tweetbench.errors import DataError
from tweetbench.workload.dataset import load_data, make_loader, split_indices


@pytest.fixture(scope="module")
def tiny():
    return load_data(WORKLOADS["tiny"], DataSource())


def test_split_is_80_10_10_and_disjoint():
    train, val, test = split_indices(1000, (0.8, 0.1, 0.1), seed=0)
    assert (len(train), len(val), len(test)) == (800, 100, 100)
    assert len(set(train) | set(val) | set(test)) == 1000


def test_tiny_splits_have_static_shapes(tiny):
    wl = WORKLOADS["tiny"]
    for split in (tiny.train, tiny.val, tiny.test):
        assert split.tokens.shape[1] == wl.seq_len
        assert split.tokens.dtype == torch.long
    assert len(tiny.vocab) <= wl.vocab_size
    assert tiny.num_classes == wl.corpus_authors
    assert tiny.source["kind"] == "builtin"


def test_loader_gives_the_same_batches_in_the_same_order(tiny):
    a = [x for x, _ in make_loader(tiny.train, 16, seed=0, total_batches=5)]
    b = [x for x, _ in make_loader(tiny.train, 16, seed=0, total_batches=5)]
    c = [x for x, _ in make_loader(tiny.train, 16, seed=1, total_batches=5)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))
    assert all(x.shape == (16, WORKLOADS["tiny"].seq_len) for x in a)


def test_loader_cycles_when_asked_for_more_rows_than_the_split_has(tiny):
    batches = list(make_loader(tiny.val, 256, seed=0, total_batches=3))
    assert len(batches) == 3 and all(x.shape[0] == 256 for x, _ in batches)


def test_user_file_with_one_author_is_refused(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("text,author\n" + "".join(f"tweet number {i},ann\n" for i in range(100)))
    with pytest.raises(DataError, match="at least 2"):
        load_data(WORKLOADS["tiny"], DataSource(path))


def test_user_file_too_small_to_split_is_refused(tmp_path):
    path = tmp_path / "few.jsonl"
    path.write_text('{"text": "hi there", "author": "a"}\n{"text": "yo", "author": "b"}\n')
    with pytest.raises(DataError, match="too few"):
        load_data(WORKLOADS["tiny"], DataSource(path))


def test_user_file_counts_skipped_rows(tmp_path):
    path = tmp_path / "mine.csv"
    rows = ["text,author,likes"]
    rows += [f'"great game, #{i} @coach",{"ann" if i % 2 else "bob"},{i}' for i in range(80)]
    rows += [",ann,1", "text without label,,2"]
    path.write_text("\n".join(rows) + "\n")
    data = load_data(WORKLOADS["tiny"], DataSource(path))
    assert data.source["skipped_empty_text"] == 1
    assert data.source["skipped_missing_label"] == 1
    assert data.authors == ("ann", "bob")
