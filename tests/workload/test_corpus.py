import json
import math
import statistics
from collections import Counter, defaultdict

import pytest

from tweetbench.workload.corpus import (
    CORPUS_VERSION,
    MAX_AUTHORS,
    Tweet,
    cache_path,
    default_cache_dir,
    generate_corpus,
    load_builtin_corpus,
    persona_names,
)
from tweetbench.workload.tokenizer import tokenize


@pytest.fixture(scope="module")
def corpus():
    return generate_corpus(3000, 10, seed=0)


def by_author(tweets):
    groups = defaultdict(list)
    for tweet in tweets:
        groups[tweet.author].append(tweet.text)
    return groups


def test_same_seed_same_corpus(corpus):
    assert generate_corpus(3000, 10, seed=0) == corpus


def test_different_seed_different_corpus(corpus):
    other = generate_corpus(3000, 10, seed=1)
    assert other != corpus
    assert Counter(t.author for t in other) == Counter(t.author for t in corpus)


def test_does_not_touch_global_random_state():
    import random

    random.seed(123)
    expected = random.random()
    random.seed(123)
    generate_corpus(200, 4, seed=0)
    assert random.random() == expected


def test_balanced_and_first_personas():
    tweets = generate_corpus(105, 4, seed=3)
    assert Counter(t.author for t in tweets) == {name: 26 for name in persona_names(4)}
    assert all(isinstance(t, Tweet) and t.text.strip() for t in tweets)


def test_authors_are_interleaved(corpus):
    first = [t.author for t in corpus[:100]]
    assert len(set(first)) == 10


def test_personas_are_invented_and_distinct():
    names = persona_names()
    assert len(names) == MAX_AUTHORS == len(set(names))
    assert "astro_ava" in names and "chef_marco" in names


@pytest.mark.parametrize(("n_tweets", "n_authors"), [(100, 11), (100, 0), (3, 4)])
def test_bad_arguments(n_tweets, n_authors):
    with pytest.raises(ValueError):
        generate_corpus(n_tweets, n_authors, seed=0)


def test_persona_habits_show(corpus):
    groups = by_author(corpus)
    astro = " ".join(groups["astro_ava"])
    assert "#space" in astro or "#astronaut" in astro
    assert "https://t.co/" in astro
    assert "\U0001F680" in astro  # rocket
    chef_tokens = Counter(tok for text in groups["chef_marco"] for tok in tokenize(text))
    assert chef_tokens["pasta"] > 0 and chef_tokens["<num>"] > 0
    assert any(tok.startswith("@") for tok in chef_tokens)
    # Multi-codepoint emoji survive tokenization as one token.
    all_tokens = {tok for text in (t.text for t in corpus) for tok in tokenize(text)}
    assert "\U0001F469\u200d\U0001F680" in all_tokens  # woman astronaut
    # Length habits differ: the founder writes long tweets, the musician short ones.
    mean_len = {a: statistics.mean(len(tokenize(x)) for x in texts) for a, texts in groups.items()}
    assert mean_len["founder_sam"] > mean_len["beats_kai"] + 4


def test_shared_and_overlapping_vocabulary(corpus):
    vocab = {
        author: {tok for text in texts for tok in tokenize(text)}
        for author, texts in by_author(corpus).items()
    }
    common = set.intersection(*vocab.values())
    assert {"the", "and", "<url>"} <= common
    # Pair partners share more topic words than unrelated personas.
    pair = len(vocab["hoops_hank"] & vocab["goal_gio"] - common)
    unrelated = len(vocab["hoops_hank"] & vocab["lab_leo"] - common)
    assert pair > unrelated


def test_learnable_but_not_trivial():
    """A naive Bayes bag of words lands in a band: the authors are separable, but not perfectly."""
    tweets = generate_corpus(6000, 10, seed=5)
    train, val = tweets[:5000], tweets[5000:]
    counts = defaultdict(Counter)
    for tweet in train:
        counts[tweet.author].update(tokenize(tweet.text))
    vocab_size = len(set().union(*counts.values()))
    totals = {a: sum(c.values()) for a, c in counts.items()}

    def log_likelihood(author, tokens):
        denominator = totals[author] + 0.5 * vocab_size
        return sum(math.log((counts[author][w] + 0.5) / denominator) for w in tokens)

    def predict(tokens):
        return max(counts, key=lambda author: log_likelihood(author, tokens))

    accuracy = sum(predict(tokenize(t.text)) == t.author for t in val) / len(val)
    assert 0.65 < accuracy < 0.93


def test_cache_round_trip(tmp_path):
    tweets = load_builtin_corpus(200, 4, seed=7, cache_dir=tmp_path)
    path = cache_path(200, 4, 7, tmp_path)
    assert path.exists() and CORPUS_VERSION in path.name
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    assert tweets == generate_corpus(200, 4, seed=7)
    # A second load reads the file: prove it by editing one cached text.
    lines = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[1])
    row["text"] = "edited in the cache \U0001F600"
    lines[1] = json.dumps(row, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    again = load_builtin_corpus(200, 4, seed=7, cache_dir=tmp_path)
    assert again[0].text == "edited in the cache \U0001F600"
    assert again[1:] == tweets[1:]


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: "not json at all\n" + text,
        lambda text: text[: len(text) // 2],  # truncated
        lambda text: text.replace('"author"', '"writer"', 1).replace('"author"', '"writer"'),
        lambda text: text.replace(CORPUS_VERSION, "celebrity-tweets-v0"),
        lambda text: "",
    ],
)
def test_corrupt_cache_is_regenerated(tmp_path, damage):
    expected = load_builtin_corpus(120, 3, seed=2, cache_dir=tmp_path)
    path = cache_path(120, 3, 2, tmp_path)
    path.write_text(damage(path.read_text(encoding="utf-8")), encoding="utf-8")
    assert load_builtin_corpus(120, 3, seed=2, cache_dir=tmp_path) == expected
    assert load_builtin_corpus(120, 3, seed=2, cache_dir=tmp_path) == expected  # rewritten


def test_cache_with_bad_bytes_is_regenerated(tmp_path):
    expected = load_builtin_corpus(120, 3, seed=2, cache_dir=tmp_path)
    cache_path(120, 3, 2, tmp_path).write_bytes(b"\xff\xfe\x00garbage")
    assert load_builtin_corpus(120, 3, seed=2, cache_dir=tmp_path) == expected


def test_unwritable_cache_dir_still_returns_corpus(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    tweets = load_builtin_corpus(50, 2, seed=0, cache_dir=blocker / "cache")
    assert tweets == generate_corpus(50, 2, seed=0)


def test_default_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TWEETBENCH_CACHE", str(tmp_path / "env-cache"))
    assert default_cache_dir() == tmp_path / "env-cache"
    load_builtin_corpus(40, 2, seed=1)
    assert cache_path(40, 2, 1).parent == tmp_path / "env-cache"
    assert cache_path(40, 2, 1).exists()
    monkeypatch.delenv("TWEETBENCH_CACHE")
    assert str(default_cache_dir()).endswith(".cache/tweetbench")
