"""The built-in corpus's personas and shared word pools: complete, in topic pairs, and pinned to the corpus
version that cache files and results carry."""

from __future__ import annotations

import hashlib
from collections import Counter

from tweetbench.workload.corpus import CORPUS_VERSION, MAX_AUTHORS
from tweetbench.workload import personas
from tweetbench.workload.personas import GROUP_WORDS, PERSONAS

RATES = ("topic_rate", "url_rate", "hashtag_rate", "mention_rate", "emoji_rate", "number_rate")
# The persona data as of CORPUS_VERSION. A change to it changes the corpus: bump corpus.CORPUS_VERSION (so that
# no cache file or result of the old corpus is taken for the new one), then put the new digest here.
PINNED = ("celebrity-tweets-v1", "5c1b39c31c96fa28abe3426eb2a5cd1daed312cd9a21a0592d54d86f2dde4c2c")


def test_every_persona_is_complete_with_its_habits_as_shares() -> None:
    assert len(PERSONAS) == MAX_AUTHORS and len({p.name for p in PERSONAS}) == MAX_AUTHORS
    for p in PERSONAS:
        assert all(getattr(p, pool).split() for pool in ("nouns", "verbs", "adjectives", "syllables", "emoji")), p.name
        assert p.hashtags.split() and all(tag.startswith("#") for tag in p.hashtags.split()), p.name
        assert p.mentions.split() and all(handle.startswith("@") for handle in p.mentions.split()), p.name
        assert all(0.0 <= getattr(p, rate) <= 1.0 for rate in RATES), p.name
        assert p.mean_words > 0 and p.sd_words >= 0, p.name


def test_personas_come_in_topic_pairs_the_first_five_one_of_each_topic() -> None:
    assert {p.group for p in PERSONAS[:5]} == set(GROUP_WORDS) and len(GROUP_WORDS) == 5
    assert Counter(p.group for p in PERSONAS) == {group: 2 for group in GROUP_WORDS}
    assert all(words.split() for words in GROUP_WORDS.values())


def test_the_pools_every_author_shares() -> None:
    assert len(personas.FILLER.split()) > 300 and personas.GENERIC_EMOJI.split() and all(personas.GENERIC_PHRASES)
    assert all(tag.startswith("#") for tag in personas.GENERIC_HASHTAGS.split())
    assert all(handle.startswith("@") for handle in personas.GENERIC_MENTIONS.split())


def test_the_persona_data_is_the_one_its_corpus_version_names() -> None:
    data = (PERSONAS, GROUP_WORDS, personas.FILLER, personas.GENERIC_HASHTAGS, personas.GENERIC_EMOJI,
            personas.GENERIC_MENTIONS, personas.GENERIC_PHRASES)
    digest = hashlib.sha256(repr(data).encode()).hexdigest()
    assert (CORPUS_VERSION, digest) == PINNED, "the personas changed: bump corpus.CORPUS_VERSION, then PINNED here"
