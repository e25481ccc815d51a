"""From tweets to tensors: the splits, the vocabulary, the encoding and the batch loaders."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tweetbench.config import DataSource, WorkloadConfig
from tweetbench.errors import DataError
from tweetbench.workload.corpus import CORPUS_VERSION, Tweet, load_builtin_corpus
from tweetbench.workload.reader import read_tweets
from tweetbench.workload.tokenizer import Vocabulary, tokenize


@dataclass(frozen=True)
class EncodedSplit:
    """Token ids ``(n, seq_len)`` and author ids ``(n,)`` of one split."""

    tokens: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def non_pad_tokens(self) -> int:
        return int((self.tokens != 0).sum())


@dataclass(frozen=True)
class TweetData:
    """The encoded splits of one workload, with what produced them."""

    train: EncodedSplit
    val: EncodedSplit
    test: EncodedSplit
    vocab: Vocabulary
    authors: tuple[str, ...]
    source: dict[str, Any]

    @property
    def num_classes(self) -> int:
        return len(self.authors)


def load_tweets(workload: WorkloadConfig, source: DataSource) -> tuple[list[Tweet], dict[str, Any]]:
    """The built-in corpus, or the user's file with what was skipped in it."""
    if source.path is None:
        tweets = load_builtin_corpus(workload.corpus_tweets, workload.corpus_authors, workload.seed)
        return tweets, {"kind": "builtin", "corpus": CORPUS_VERSION, "rows": len(tweets)}
    result = read_tweets(source.path, source.text_column, source.label_column, source.delimiter)
    return result.tweets, {
        "kind": "file",
        "path": str(source.path),
        "text_column": source.text_column,
        "label_column": source.label_column,
        "delimiter": result.delimiter,
        "rows": result.rows_total,
        "used": len(result.tweets),
        "skipped_empty_text": result.skipped_empty_text,
        "skipped_missing_label": result.skipped_missing_label,
    }


def check_data(workload: WorkloadConfig, source: DataSource) -> None:
    """Read the tweets and check they can be split and classified, raising a one-line ``DataError``."""
    tweets, _ = load_tweets(workload, source)
    _check_usable(tweets, workload, "the built-in corpus" if source.path is None else str(source.path))


def split_indices(n: int, fractions: Sequence[float], seed: int) -> tuple[list[int], list[int], list[int]]:
    """A seeded shuffle of ``range(n)`` cut into train, validation and test."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_train = int(n * fractions[0])
    n_val = int(n * fractions[1])
    return order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]


def _check_usable(tweets: Sequence[Tweet], workload: WorkloadConfig, where: str) -> None:
    authors = {tweet.author for tweet in tweets}
    if len(authors) < 2:
        raise DataError(
            f"{where} has {len(authors)} author(s); a classifier needs at least 2: add tweets by other authors"
        )
    needed = max(workload.batch_size * 2, 20)
    if len(tweets) < needed:
        raise DataError(
            f"{where} has only {len(tweets)} usable tweets, too few to split 80/10/10 "
            f"with batch {workload.batch_size}: give at least {needed}"
        )


def _encode(tweets: Sequence[Tweet], indices: Sequence[int], vocab: Vocabulary, label_ids: dict[str, int],
            seq_len: int, tokenized: Sequence[list[str]]) -> EncodedSplit:
    tokens = torch.tensor([vocab.encode(tokenized[i], seq_len) for i in indices], dtype=torch.long)
    labels = torch.tensor([label_ids[tweets[i].author] for i in indices], dtype=torch.long)
    return EncodedSplit(tokens.reshape(len(indices), seq_len), labels)


def load_data(workload: WorkloadConfig, source: DataSource) -> TweetData:
    """Read or generate the tweets, split them, build the vocabulary on train, encode every split."""
    tweets, info = load_tweets(workload, source)
    _check_usable(tweets, workload, "the built-in corpus" if source.path is None else str(source.path))
    train_idx, val_idx, test_idx = split_indices(len(tweets), workload.split, workload.seed)
    tokenized = [tokenize(tweet.text) for tweet in tweets]
    vocab = Vocabulary.build((tokenized[i] for i in train_idx), workload.vocab_size)
    authors = tuple(sorted({tweet.author for tweet in tweets}))
    label_ids = {author: i for i, author in enumerate(authors)}
    splits = [_encode(tweets, idx, vocab, label_ids, workload.seq_len, tokenized)
              for idx in (train_idx, val_idx, test_idx)]
    info.update({"train": len(train_idx), "val": len(val_idx), "test": len(test_idx),
                 "vocab_size": len(vocab), "authors": list(authors)})
    return TweetData(*splits, vocab=vocab, authors=authors, source=info)


class _BatchDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Indexing with a list of rows returns a whole batch: one gather instead of per-row collation."""

    def __init__(self, split: EncodedSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(rows)
        return self.split.tokens[index], self.split.labels[index]


class _SeededBatches(Sampler[list[int]]):
    """Fixed-size batches of row indices, reshuffled each epoch from one seed (same order on every device)."""

    def __init__(self, n: int, batch_size: int, *, seed: int, shuffle: bool, total_batches: int | None) -> None:
        self.n, self.batch_size, self.seed, self.shuffle = n, batch_size, seed, shuffle
        self.total_batches = total_batches
        self.epoch = 0

    def _order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=gen).tolist()

    def _stream(self, epoch: int) -> Iterator[int]:
        while True:
            yield from self._order(epoch)
            epoch += 1

    def __iter__(self) -> Iterator[list[int]]:
        stream = self._stream(self.epoch)
        self.epoch += 1
        for _ in range(len(self)):
            yield [next(stream) for _ in range(self.batch_size)]

    def __len__(self) -> int:
        # Without a total: one pass, incomplete batch dropped. With one: cycle through the rows until reached.
        return self.n // self.batch_size if self.total_batches is None else self.total_batches


# Batches each prefetching worker keeps ready (the open division's loader knob).
PREFETCH_FACTOR = 4


def make_loader(split: EncodedSplit, batch_size: int, *, seed: int, shuffle: bool = True,
                total_batches: int | None = None, pin_memory: bool = False, workers: int = 0) -> DataLoader:
    """Static-shape batches (incomplete batches dropped), in a seeded order shared by all devices.

    ``workers`` > 0 prefetches batches in that many worker processes; the sampler stays in this
    process, so the order of the batches is the same.
    """
    sampler = _SeededBatches(len(split), batch_size, seed=seed, shuffle=shuffle, total_batches=total_batches)
    prefetch = {"prefetch_factor": PREFETCH_FACTOR} if workers else {}
    return DataLoader(_BatchDataset(split), sampler=sampler, batch_size=None, num_workers=workers,
                      pin_memory=pin_memory, **prefetch)
