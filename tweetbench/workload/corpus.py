"""The built-in tweet corpus: invented celebrity personas, generated locally and cached as JSONL.

Nothing is downloaded. Each persona has its own topic words, hashtags, @mentions, emoji, URL and
length habits, but every author also draws on a large shared pool of filler words; personas come
in pairs whose topics overlap (two sports, two tech, ...); a tweet sometimes borrows another
author's topic; and some tweets are short generic chatter with no signal. That keeps the task
learnable but not trivial: the v1 BiLSTM plateaus in the mid-80s percent on 10 authors.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tweetbench.workload.personas import (
    FILLER,
    GENERIC_EMOJI,
    GENERIC_HASHTAGS,
    GENERIC_MENTIONS,
    GENERIC_PHRASES,
    GROUP_WORDS,
    PERSONAS,
    Persona,
)

# Bump whenever the generator or its word lists change: cache files and results carry it.
CORPUS_VERSION = "celebrity-tweets-v1"
MAX_AUTHORS = 10

# Difficulty knobs (tuned against the v1 BiLSTM, see the module docstring).
_P_GENERIC = 0.08  # a tweet is short generic chatter from the shared pools only
_P_BORROW = 0.15  # a tweet's topic words come from another author
_P_BORROW_PARTNER = 0.5  # ... and that author is the persona's topic partner
_P_PAIR_WORD = 0.45  # a topic word comes from the pair's shared pool, not the persona's own
_ZIPF_S = 1.05


@dataclass(frozen=True)
class Tweet:
    """One tweet and the handle of its author."""

    text: str
    author: str


_SLUG_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ENDINGS = ("", "", "", ".", "!", "!!", "?", "...", " :)")


class _Pool:
    """A word list sampled with Zipf-like weights: the first words are the common ones."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = tuple(dict.fromkeys(words))
        weights = [1.0 / (rank + 1) ** _ZIPF_S for rank in range(len(self.words))]
        self.cum_weights = tuple(itertools.accumulate(weights))

    def sample(self, rng: random.Random, k: int) -> list[str]:
        if k <= 0:
            return []
        return rng.choices(self.words, cum_weights=self.cum_weights, k=k)


@dataclass(frozen=True)
class _Lexicon:
    topic: _Pool
    group: _Pool
    hashtags: _Pool
    mentions: _Pool
    emoji: _Pool


def _inflect(verb: str) -> list[str]:
    stem = verb[:-1] if verb.endswith("e") else verb
    return [verb, verb + "s", stem + "ed", stem + "ing"]


def _invented_names(persona: Persona, count: int) -> list[str]:
    """Pseudo-words for the persona's people, places and products; fixed per persona."""
    rng = random.Random(zlib.crc32(persona.name.encode()))
    parts = persona.syllables.split()
    names: dict[str, None] = {}
    while len(names) < count:
        names["".join(rng.choice(parts) for _ in range(rng.randint(2, 3)))] = None
    return list(names)


@lru_cache(maxsize=None)
def _lexicon(persona: Persona) -> _Lexicon:
    nouns = persona.nouns.split()
    verbs = [form for verb in persona.verbs.split() for form in _inflect(verb)]
    # Interleave so the Zipf head holds a mix of nouns, verbs and adjectives.
    core = [
        word
        for group in itertools.zip_longest(nouns, verbs, persona.adjectives.split())
        for word in group
        if word
    ]
    plurals = [noun + "s" for noun in nouns if not noun.endswith("s")]
    topic = core + plurals + _invented_names(persona, 200)
    return _Lexicon(
        topic=_Pool(topic),
        group=_Pool(GROUP_WORDS[persona.group].split()),
        hashtags=_Pool(persona.hashtags.split()),
        mentions=_Pool(persona.mentions.split()),
        emoji=_Pool(persona.emoji.split()),
    )


_FILLER_POOL = _Pool(FILLER.split())
_GENERIC_HASHTAG_POOL = _Pool(GENERIC_HASHTAGS.split())
_GENERIC_EMOJI_POOL = _Pool(GENERIC_EMOJI.split())
_GENERIC_MENTION_POOL = _Pool(GENERIC_MENTIONS.split())


def _generic_tweet(rng: random.Random) -> str:
    words = [rng.choice(GENERIC_PHRASES)] if rng.random() < 0.5 else []
    words += _FILLER_POOL.sample(rng, rng.randint(1, 5))
    if rng.random() < 0.5:
        words += _GENERIC_EMOJI_POOL.sample(rng, rng.randint(1, 2))
    if rng.random() < 0.2:
        words += _GENERIC_HASHTAG_POOL.sample(rng, 1)
    return " ".join(words)


def _own_or_generic(rng: random.Random, own: _Pool, generic: _Pool, k: int) -> list[str]:
    return [(own if rng.random() < 0.6 else generic).sample(rng, 1)[0] for _ in range(k)]


def _number(rng: random.Random) -> str:
    form = rng.randrange(5)
    if form == 0:
        return str(rng.randint(1, 99))
    if form == 1:
        return str(rng.randint(2015, 2026))
    if form == 2:
        return f"{rng.randint(1, 12)}:{rng.choice(('00', '15', '30', '45'))}"
    if form == 3:
        return f"{rng.randint(1, 500)}k"
    return f"{rng.randint(1, 100)}%"


def _url(rng: random.Random) -> str:
    slug = "".join(rng.choices(_SLUG_CHARS, k=10))
    return f"https://t.co/{slug}"


def _tweet(rng: random.Random, persona: Persona, source: Persona) -> str:
    """One tweet in ``persona``'s habits about ``source``'s topics (usually the same persona)."""
    own, topic = _lexicon(persona), _lexicon(source)
    n_words = max(2, min(40, round(rng.gauss(persona.mean_words, persona.sd_words))))
    n_topic = max(0, min(n_words, round(n_words * persona.topic_rate + rng.gauss(0, 1.2))))
    n_pair = sum(rng.random() < _P_PAIR_WORD for _ in range(n_topic))
    words = _FILLER_POOL.sample(rng, n_words - n_topic)
    words += topic.topic.sample(rng, n_topic - n_pair) + topic.group.sample(rng, n_pair)
    rng.shuffle(words)
    if rng.random() < persona.number_rate:
        words.insert(rng.randrange(len(words) + 1), _number(rng))
    if rng.random() < persona.mention_rate:
        mention = _own_or_generic(rng, own.mentions, _GENERIC_MENTION_POOL, 1)
        words.insert(0 if rng.random() < 0.5 else rng.randrange(len(words) + 1), mention[0])
    text = " ".join(words)
    text = (text[:1].upper() + text[1:] if rng.random() < 0.4 else text) + rng.choice(_ENDINGS)
    extras: list[str] = []
    if rng.random() < persona.emoji_rate:
        extras += _own_or_generic(rng, own.emoji, _GENERIC_EMOJI_POOL, rng.randint(1, 3))
    if rng.random() < persona.hashtag_rate:
        extras += _own_or_generic(rng, own.hashtags, _GENERIC_HASHTAG_POOL, rng.randint(1, 3))
    if rng.random() < persona.url_rate:
        extras.append(_url(rng))
    return " ".join([text, *extras])


def _pick_source(rng: random.Random, persona: Persona, authors: Sequence[Persona]) -> Persona:
    if len(authors) < 2 or rng.random() >= _P_BORROW:
        return persona
    partners = [a for a in authors if a.group == persona.group and a is not persona]
    if partners and rng.random() < _P_BORROW_PARTNER:
        return partners[0]
    return rng.choice([a for a in authors if a is not persona])


def generate_corpus(n_tweets: int, n_authors: int, seed: int) -> list[Tweet]:
    """``n_tweets // n_authors`` tweets from each of the first ``n_authors`` personas, shuffled.

    Deterministic: the same arguments give the same list, on any machine.
    """
    if not 1 <= n_authors <= MAX_AUTHORS:
        raise ValueError(f"n_authors must be between 1 and {MAX_AUTHORS}, got {n_authors}")
    if n_tweets < n_authors:
        raise ValueError(f"n_tweets ({n_tweets}) must be at least n_authors ({n_authors})")
    rng = random.Random(seed)
    authors = PERSONAS[:n_authors]
    order = [persona for persona in authors for _ in range(n_tweets // n_authors)]
    rng.shuffle(order)
    tweets = []
    for persona in order:
        if rng.random() < _P_GENERIC:
            text = _generic_tweet(rng)
        else:
            text = _tweet(rng, persona, _pick_source(rng, persona, authors))
        tweets.append(Tweet(text=text, author=persona.name))
    return tweets


def persona_names(n_authors: int = MAX_AUTHORS) -> list[str]:
    """The handles of the first ``n_authors`` built-in personas, in corpus order."""
    return [persona.name for persona in PERSONAS[:n_authors]]


def default_cache_dir() -> Path:
    """``$TWEETBENCH_CACHE`` if set, else ``~/.cache/tweetbench``."""
    env = os.environ.get("TWEETBENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "tweetbench"


def cache_path(n_tweets: int, n_authors: int, seed: int, cache_dir: Path | None = None) -> Path:
    """Where ``load_builtin_corpus`` keeps the corpus for these arguments."""
    directory = default_cache_dir() if cache_dir is None else Path(cache_dir)
    return directory / f"{CORPUS_VERSION}-n{n_tweets}-a{n_authors}-s{seed}.jsonl"


def load_builtin_corpus(
    n_tweets: int, n_authors: int, seed: int, cache_dir: Path | None = None
) -> list[Tweet]:
    """The generated corpus, read from the JSONL cache when a valid copy is there.

    A missing, corrupt or truncated cache is regenerated and rewritten without a word; a cache
    directory that cannot be written only costs the caching.
    """
    path = cache_path(n_tweets, n_authors, seed, cache_dir)
    header = {
        "corpus_version": CORPUS_VERSION,
        "n_tweets": n_tweets,
        "n_authors": n_authors,
        "seed": seed,
    }
    expected = (n_tweets // n_authors) * n_authors if 1 <= n_authors <= n_tweets else -1
    cached = _read_cache(path, header, expected)
    if cached is not None:
        return cached
    tweets = generate_corpus(n_tweets, n_authors, seed)
    try:
        _write_cache(path, header, tweets)
    except OSError:
        pass  # a read-only or full cache directory must not stop the benchmark
    return tweets


def _read_cache(path: Path, header: dict[str, object], expected: int) -> list[Tweet] | None:
    try:
        with path.open(encoding="utf-8") as file:
            if json.loads(file.readline()) != header:
                return None
            rows = [json.loads(line) for line in file]
            tweets = [Tweet(text=row["text"], author=row["author"]) for row in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # ValueError covers bad JSON and bad UTF-8
    valid = all(isinstance(t.text, str) and isinstance(t.author, str) for t in tweets)
    return tweets if valid and len(tweets) == expected else None


def _write_cache(path: Path, header: dict[str, object], tweets: list[Tweet]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(json.dumps(header) + "\n")
            for tweet in tweets:
                row = {"text": tweet.text, "author": tweet.author}
                file.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
