"""Tweet tokenizer and the fixed-size vocabulary that turns tokens into ids.

Tokenization rules, applied to NFC-normalised, HTML-unescaped, lower-cased text:

* a URL (``http://``, ``https://`` or ``www.``) becomes the single token ``<url>``;
* an @mention or #hashtag (not glued to a preceding word character) stays one token;
* each emoji, including ZWJ sequences, skin tones, variation selectors, keycaps and flags,
  is one token;
* a number (``42``, ``3.5``, ``7:30``, ``24/7``, ``10k``, ``3rd``) becomes ``<num>``;
* a word is a run of word characters, apostrophes inside it kept (``don't``);
* every other character (punctuation, symbols, whitespace) is dropped.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

PAD = "<pad>"
UNK = "<unk>"
PAD_ID = 0
UNK_ID = 1
URL = "<url>"
NUM = "<num>"

# Characters that begin an emoji: pictographs, dingbats, misc symbols and arrows.
_EMOJI_BASE = (
    "\U0001F000-\U0001FAFF"
    "\u2600-\u27BF"
    "\u2300-\u23FF"
    "\u2B00-\u2BFF"
    "\u2190-\u21FF"
    "\u00A9\u00AE\u203C\u2049\u2122\u2139\u3030\u303D\u3297\u3299"
)
# Characters that only modify the emoji before them: variation selectors, skin tones, tags, keycap.
_EMOJI_MOD = "\uFE0E\uFE0F\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F\u20E3"
_EMOJI_ATOM = f"[{_EMOJI_BASE}][{_EMOJI_MOD}]*"
_EMOJI = (
    "[\U0001F1E6-\U0001F1FF]{2}"  # a flag: a pair of regional indicators
    "|[0-9#*]\uFE0F?\u20E3"  # a keycap
    f"|{_EMOJI_ATOM}(?:\u200D{_EMOJI_ATOM})*"
)



def _combining_marks() -> str:
    """A character class body of the BMP combining marks, so accented and Indic words stay whole."""
    ranges: list[str] = []
    start: int | None = None
    for cp in range(0x10001):
        # Variation selectors and symbol marks belong to emoji, not to words.
        is_mark = (
            cp < 0x10000
            and unicodedata.category(chr(cp)).startswith("M")
            and not (0xFE00 <= cp <= 0xFE0F or 0x20D0 <= cp <= 0x20FF)
        )
        if is_mark and start is None:
            start = cp
        elif not is_mark and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(cp - 1))}")
            start = None
    return "".join(ranges)


_WORD_PART = rf"\w[\w{_combining_marks()}]*"

_TOKEN_RE = re.compile(
    rf"(?P<url>(?:https?://|www\.)\S+)"
    rf"|(?P<tag>(?<!\w)[@#]\w+)"
    rf"|(?P<emoji>{_EMOJI})"
    rf"|(?P<num>\d+(?:[.,:/]\d+)*[^\W\d_]*)"
    rf"|(?P<word>{_WORD_PART}(?:['\u2019]{_WORD_PART})*)"
)


def tokenize(text: str) -> list[str]:
    """Split one tweet into lower-case tokens; never raises on any ``str``."""
    text = unicodedata.normalize("NFC", html.unescape(text).lower())
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup
        if kind == "url":
            tokens.append(URL)
        elif kind == "num":
            tokens.append(NUM)
        else:
            tokens.append(match.group().replace("\u2019", "'"))
    return tokens


@dataclass(frozen=True)
class Vocabulary:
    """An immutable token <-> id mapping with ``<pad>`` at 0 and ``<unk>`` at 1."""

    itos: tuple[str, ...]
    stoi: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.itos[:2] != (PAD, UNK):
            raise ValueError(
                f"a vocabulary must start with {PAD!r}, {UNK!r}; got {self.itos[:2]!r}"
            )
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("a vocabulary must not hold the same token twice")
        stoi = MappingProxyType({token: index for index, token in enumerate(self.itos)})
        object.__setattr__(self, "stoi", stoi)

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], max_size: int) -> Vocabulary:
        """Keep the ``max_size - 2`` most frequent tokens; equal counts are ordered by token."""
        if max_size < 2:
            raise ValueError(
                f"max_size must be at least 2 (for {PAD!r} and {UNK!r}), got {max_size}"
            )
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        kept = [token for token, _ in ranked[: max_size - 2]]
        return cls((PAD, UNK, *kept))

    def encode(self, tokens: list[str], seq_len: int) -> list[int]:
        """Ids of the first ``seq_len`` tokens, right-padded with ``PAD_ID`` to ``seq_len``."""
        if seq_len < 0:
            raise ValueError(f"seq_len must be >= 0, got {seq_len}")
        ids = [self.stoi.get(token, UNK_ID) for token in tokens[:seq_len]]
        return ids + [PAD_ID] * (seq_len - len(ids))

    def __len__(self) -> int:
        return len(self.itos)
