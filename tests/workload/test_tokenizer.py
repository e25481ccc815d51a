import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tweetbench.workload.tokenizer import PAD, PAD_ID, UNK, UNK_ID, Vocabulary, tokenize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello WORLD", ["hello", "world"]),
        ("see https://t.co/AbC123, now", ["see", "<url>", "now"]),
        ("http://x.org/a?b=1 and www.example.com", ["<url>", "and", "<url>"]),
        ("@ElonMusk hi @chef_marco", ["@elonmusk", "hi", "@chef_marco"]),
        ("#AI is #Big_Data", ["#ai", "is", "#big_data"]),
        ("mail foo@bar.com", ["mail", "foo", "bar", "com"]),
        ("at 7:30 on 24/7", ["at", "<num>", "on", "<num>"]),
        ("for 3.5 or 10k 3rd 2024", ["for", "<num>", "or", "<num>", "<num>", "<num>"]),
        ("wait... what?! (yes)", ["wait", "what", "yes"]),
        ("don't can\u2019t", ["don't", "can't"]),
        ("Tom &amp; Jerry", ["tom", "jerry"]),
        ("CAF\u00c9 cafe\u0301", ["caf\u00e9", "caf\u00e9"]),
        ("", []),
        ("  \n\t ", []),
    ],
)
def test_tokenize_cases(text, expected):
    assert tokenize(text) == expected


@pytest.mark.parametrize(
    "emoji",
    [
        "\U0001F680",  # rocket
        "\u2764\ufe0f",  # red heart with variation selector
        "\U0001F44D\U0001F3FD",  # thumbs up, skin tone
        "\U0001F469\u200d\U0001F680",  # woman astronaut (ZWJ)
        "\U0001F3C3\U0001F3FD\u200d\u2640\ufe0f",  # woman running, skin tone (ZWJ + VS)
        "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466",  # family (3 ZWJ)
        "\U0001F1EE\U0001F1F9",  # flag of Italy
        "1\ufe0f\u20e3",  # keycap one
    ],
)
def test_each_emoji_is_one_token(emoji):
    assert tokenize(f"go {emoji}team {emoji}{emoji}") == ["go", emoji, "team", emoji, emoji]


def test_adjacent_different_emoji_split():
    assert tokenize("\U0001F525\U0001F680\U0001F469\u200d\U0001F373") == [
        "\U0001F525",
        "\U0001F680",
        "\U0001F469\u200d\U0001F373",
    ]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_tokenize_never_raises_and_tokens_are_clean(text):
    tokens = tokenize(text)
    assert all(token and not any(ch.isspace() for ch in token) for token in tokens)


def test_tokenize_accepts_lone_surrogates():
    assert tokenize("\ud800 ok") == ["ok"]


def test_vocab_specials_and_order():
    vocab = Vocabulary.build([["b", "a", "c"], ["a", "b"], ["a"]], max_size=10)
    assert vocab.itos == (PAD, UNK, "a", "b", "c")
    assert vocab.stoi[PAD] == PAD_ID == 0
    assert vocab.stoi[UNK] == UNK_ID == 1
    assert len(vocab) == 5


def test_vocab_ties_broken_by_token_and_capped():
    vocab = Vocabulary.build([["z", "y", "x", "w"], ["z"]], max_size=4)
    assert vocab.itos == (PAD, UNK, "z", "w")


def test_vocab_ignores_specials_in_input():
    vocab = Vocabulary.build([[PAD, UNK, "a", PAD]], max_size=10)
    assert vocab.itos == (PAD, UNK, "a")


def test_vocab_build_is_input_order_independent():
    lists = [["a", "b"], ["c", "b"], ["d"]]
    assert Vocabulary.build(lists, 5) == Vocabulary.build(list(reversed(lists)), 5)


def test_vocab_min_size():
    assert Vocabulary.build([["a"]], max_size=2).itos == (PAD, UNK)
    with pytest.raises(ValueError):
        Vocabulary.build([["a"]], max_size=1)


def test_encode_pads_truncates_and_maps_unknown():
    vocab = Vocabulary.build([["a", "b"]], max_size=10)
    a, b = vocab.stoi["a"], vocab.stoi["b"]
    assert vocab.encode(["a", "zzz", "b"], 5) == [a, UNK_ID, b, PAD_ID, PAD_ID]
    assert vocab.encode(["a", "b", "a", "b"], 3) == [a, b, a]
    assert vocab.encode([], 4) == [PAD_ID] * 4
    assert vocab.encode(["a"], 0) == []
    with pytest.raises(ValueError):
        vocab.encode(["a"], -1)


def test_vocab_is_immutable_and_validated():
    vocab = Vocabulary.build([["a"]], max_size=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        vocab.itos = ()
    with pytest.raises(TypeError):
        vocab.stoi["b"] = 5
    with pytest.raises(ValueError):
        Vocabulary(("a", PAD, UNK))
    with pytest.raises(ValueError):
        Vocabulary((PAD, UNK, "a", "a"))
