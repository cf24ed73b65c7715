"""The one text analysis both search back ends share, written out in Python.

It reproduces Elasticsearch's built-in `cjk` analyzer — standard tokenizer, `cjk_width`, `lowercase`,
`cjk_bigram`, English stop words — in two forms:

* query form (`analyze(text)`): exactly the `cjk` analyzer: runs of adjacent CJK characters become bigrams,
  a CJK character with no CJK neighbour stays a unigram, Latin/digit words stay whole;
* index form (`analyze(text, unigrams=True)`): the same plus every CJK character as a unigram
  (`cjk_bigram` with `output_unigrams: true`).

Indexing both unigrams and bigrams and querying with plain `cjk` is what makes 1-character queries (人) and
2-character queries (人口, 法人) match: a query bigram must occur as an indexed bigram, a lone query character
as an indexed unigram, and every query token must be present (AND). The Elasticsearch mapping
(`catalogue.search.elastic.index_definition`) uses the same pair: a custom index analyzer with
`output_unigrams` and the built-in `cjk` as search analyzer.
"""

from __future__ import annotations

import html
import itertools
import re
import unicodedata
from dataclasses import dataclass

# Lucene CJKAnalyzer's default stop set, as Elasticsearch documents for its rebuilt `cjk` analyzer.
STOPWORDS = frozenset({
    "a", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
    "of", "on", "or", "s", "such", "t", "that", "the", "their", "then", "there", "these", "they", "this",
    "to", "was", "will", "with", "www",
})

# UAX #29 word-internal punctuation: MidNumLet joins letters or digits, MidLetter letters, MidNum digits.
MID_NUM_LET = frozenset(".'\u2019\u2018\ufe52\uff07\uff0e")
MID_LETTER = frozenset(":\u00b7\u0387\u05f4\u2027\ufe13\ufe55\uff1a")
MID_NUM = frozenset(",;\u037e\u0589\u060c\u060d\u066c\u07f8\u2044\ufe10\ufe14\ufe50\ufe54\uff0c\uff1b")
# Characters that can occur inside one analysed token; the SQLite FTS5 tokenizer must keep them as token chars.
INNER_PUNCTUATION = "_.:,;·'\u2019"

MAX_TOKEN_LENGTH = 255  # the standard tokenizer's default max_token_length


def _is_cjk(ch: str) -> bool:
    """Han, Hiragana, Katakana and Hangul: the scripts `cjk_bigram` forms bigrams from."""
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x323AF
        or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F or 0x3005 <= cp <= 0x3007
        or 0x3040 <= cp <= 0x309F or 0x30A0 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF
        or 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F
    )


def _width(text: str, i: int) -> tuple[str, int]:
    """`cjk_width` for the character at i: (folded character, characters consumed)."""
    ch = text[i]
    cp = ord(ch)
    if 0xFF01 <= cp <= 0xFF5E:  # full-width ASCII → basic Latin
        return chr(cp - 0xFEE0), 1
    if 0xFF65 <= cp <= 0xFF9F:  # half-width katakana → full width, composing a following voicing mark
        if i + 1 < len(text) and text[i + 1] in "\uff9e\uff9f":
            composed = unicodedata.normalize("NFKC", text[i : i + 2])
            if len(composed) == 1:
                return composed, 2
        return unicodedata.normalize("NFKC", ch), 1
    return ch, 1


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int
    cjk: bool


def _is_word(ch: str) -> bool:
    return (ch.isalnum() or ch == "_") and not _is_cjk(ch)


_CJK_RANGES = ("\u3005-\u3007\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3130-\u318f\u1100-\u11ff"
               "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U000323af\U0002f800-\U0002fa1f")
_SCAN = re.compile(f"(?P<cjk>[{_CJK_RANGES}])|(?P<word>(?:(?![{_CJK_RANGES}])\\w)+)")
_FULL_WIDTH_ASCII = str.maketrans({cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)})
_HALF_WIDTH_KANA = re.compile("[\uff65-\uff9f]")


def _joins(before: str, joiner: str, after: str) -> bool:
    letters = before.isalpha() and after.isalpha()
    digits = before.isdigit() and after.isdigit()
    return ((joiner in MID_NUM_LET and (letters or digits)) or (joiner in MID_LETTER and letters)
            or (joiner in MID_NUM and digits))


def _lower(text: str) -> str:
    # Lucene lowercases code point by code point (simple case mapping); Python's full mapping turns İ into
    # two characters. It is the only letter where the two differ.
    return text.replace("\u0130", "i").lower()


def _word_tokens(word: str, start: int, end: int) -> list[Token]:
    word = _lower(word)
    if not any(c.isalnum() for c in word):
        return []
    return [Token(word[i : i + MAX_TOKEN_LENGTH], start, end, False) for i in range(0, len(word), MAX_TOKEN_LENGTH)]


def tokenize(text: str) -> list[Token]:
    """Standard-tokenizer tokens after `cjk_width` and `lowercase`: one token per CJK character, whole words
    otherwise; offsets index the original text."""
    if _HALF_WIDTH_KANA.search(text):
        return tokenize_by_character(text)  # composing voiced marks changes lengths: take the careful path
    folded = text.translate(_FULL_WIDTH_ASCII)  # one character for one: offsets stay valid
    tokens: list[Token] = []
    word: tuple[int, int] | None = None  # the word being built, as a span of `folded`
    for match in _SCAN.finditer(folded):
        start, end = match.span()
        if match.lastgroup == "word":
            if word is not None and start == word[1] + 1 and _joins(folded[word[1] - 1], folded[word[1]],
                                                                     folded[start]):
                word = (word[0], end)
                continue
            if word is not None:
                tokens += _word_tokens(folded[word[0] : word[1]], *word)
            word = (start, end)
            continue
        if word is not None:
            tokens += _word_tokens(folded[word[0] : word[1]], *word)
            word = None
        tokens.append(Token(match.group(), start, end, True))
    if word is not None:
        tokens += _word_tokens(folded[word[0] : word[1]], *word)
    return tokens


def tokenize_by_character(text: str) -> list[Token]:
    """`tokenize`, one character at a time (any input; the reference the fast path is tested against)."""
    chars: list[tuple[str, int, int]] = []  # (folded char, start, end)
    i = 0
    while i < len(text):
        folded, used = _width(text, i)
        chars.append((folded, i, i + used))
        i += used
    tokens: list[Token] = []
    n = len(chars)
    j = 0
    while j < n:
        ch, start, end = chars[j]
        if _is_cjk(ch):
            tokens.append(Token(ch, start, end, True))
            j += 1
            continue
        if not _is_word(ch):
            j += 1
            continue
        k = j + 1
        while k < n:
            c = chars[k][0]
            if _is_word(c):
                k += 1
                continue
            if k + 1 < n and _is_word(chars[k + 1][0]) and _joins(chars[k - 1][0], c, chars[k + 1][0]):
                k += 2
                continue
            break
        tokens += _word_tokens("".join(c for c, _, _ in chars[j:k]), chars[j][1], chars[k - 1][2])
        j = k
    return tokens


def analyze_tokens(text: str, *, unigrams: bool = False) -> list[Token]:
    """`cjk_bigram` (+ unigrams if asked) and stop words over `tokenize`, keeping offsets for highlighting."""
    out: list[Token] = []
    run: list[Token] = []

    def flush() -> None:
        if len(run) == 1:
            out.append(run[0])
        else:
            for a, b in itertools.pairwise(run):
                if unigrams:
                    out.append(a)
                out.append(Token(a.text + b.text, a.start, b.end, True))
            if unigrams and run:
                out.append(run[-1])
        run.clear()

    for token in tokenize(text):
        if token.cjk:
            if run and run[-1].end != token.start:
                flush()  # not adjacent in the text (space, punctuation): no bigram across the gap
            run.append(token)
            continue
        flush()
        if token.text not in STOPWORDS:
            out.append(token)
    flush()
    return out


_RUNS = re.compile(f"(?P<cjk>[{_CJK_RANGES}]+)|(?P<word>(?:(?![{_CJK_RANGES}])\\w)+)")


def analyze(text: str, *, unigrams: bool = False) -> list[str]:
    """The analysed tokens of `text` (what `analyze_tokens` gives, without offsets: the indexing fast path)."""
    if _HALF_WIDTH_KANA.search(text):
        return [t.text for t in analyze_tokens(text, unigrams=unigrams)]
    folded = _lower(text.translate(_FULL_WIDTH_ASCII))
    out: list[str] = []
    word: list[int] | None = None

    def emit_word(start: int, end: int) -> None:
        piece = folded[start:end]
        if piece not in STOPWORDS and any(c.isalnum() for c in piece):
            out.extend(piece[i : i + MAX_TOKEN_LENGTH] for i in range(0, len(piece), MAX_TOKEN_LENGTH))

    for match in _RUNS.finditer(folded):
        start, end = match.span()
        if match.lastgroup == "word":
            if word is not None and start == word[1] + 1 and _joins(folded[word[1] - 1], folded[word[1]],
                                                                     folded[start]):
                word[1] = end
                continue
            if word is not None:
                emit_word(*word)
            word = [start, end]
            continue
        if word is not None:
            emit_word(*word)
            word = None
        run = match.group()
        if len(run) == 1:
            out.append(run)
        elif unigrams:
            for i in range(len(run) - 1):
                out.append(run[i])
                out.append(run[i : i + 2])
            out.append(run[-1])
        else:
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
    if word is not None:
        emit_word(*word)
    return out


def index_tokens(text: str) -> str:
    """The space-separated token string stored for the embedded back end (distinct tokens, stable order)."""
    return " ".join(dict.fromkeys(analyze(text, unigrams=True)))


def query_terms(text: str) -> list[str]:
    """Distinct query tokens; every one must match (AND)."""
    return list(dict.fromkeys(analyze(text)))


_ALL_CJK = re.compile(f"[{_CJK_RANGES}]+")


def _cjk_spans(text: str, terms: set[str]) -> list[tuple[int, int]]:
    """Where CJK terms occur: a CJK unigram or bigram token is exactly a substring of the text (characters
    of one CJK run are adjacent), so plain search finds the same spans as analysing the text."""
    spans = []
    for term in terms:
        at = text.find(term)
        while at != -1:
            spans.append((at, at + len(term)))
            at = text.find(term, at + 1)
    return spans


def highlight(text: str, terms: list[str], *, fragment_size: int | None = None) -> str | None:
    """HTML-escaped `text` with the parts matching `terms` in <em>…</em>; None if nothing matches.

    With `fragment_size`, a window of about that many characters around the first match is returned.
    """
    wanted = set(terms)
    if not wanted or not text:
        return None
    spans = sorted(_cjk_spans(text, wanted) if _ALL_CJK.fullmatch("".join(wanted)) and not _HALF_WIDTH_KANA.search(text)
                   else ((t.start, t.end) for t in analyze_tokens(text, unigrams=True) if t.text in wanted))
    if not spans:
        return None
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    lo, hi = 0, len(text)
    if fragment_size is not None and len(text) > fragment_size:
        lo = max(0, merged[0][0] - fragment_size // 4)
        hi = min(len(text), lo + fragment_size)
    parts: list[str] = []
    cursor = lo
    for start, end in merged:
        if end <= lo or start >= hi:
            continue
        start, end = max(start, lo), min(end, hi)
        parts.append(html.escape(text[cursor:start]))
        parts.append("<em>" + html.escape(text[start:end]) + "</em>")
        cursor = end
    parts.append(html.escape(text[cursor:hi]))
    return "".join(parts)
