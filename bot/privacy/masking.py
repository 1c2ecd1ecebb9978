"""Personal data masked before anything is logged or written to a report: one set of patterns.

``masked`` (every log line, bot/privacy/logmask.py): e-mail addresses and phone numbers, in US
and international formats; ordinary numbers stay ("2 mg", "24 hours", "1-2 weeks", dates,
times, version numbers).

``mask_pii`` (the unanswered-questions report, bot/content/unanswered.py): the same, then links,
long numbers (4+ digits: member and ID numbers) and names.

    masked("call me on (412) 555-0134 or mail jo@example.org")
    -> "call me on [phone] or mail [email]"
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import FrozenSet

PHONE = "[phone]"
EMAIL = "[email]"

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
# no digit, letter, '+', '.', '-' or '/' right before, none right after (a decimal point counts)
_BEFORE = r"(?<![\w+./-])"
_AFTER = r"(?![\w/-]|[.,]\d)"
_PHONE = re.compile(
    _BEFORE + r"(?:"
    # international: +44 20 7946 0958, +44 (0)7700 900123, 0044 7700 900123 (8 to 15 digits)
    r"(?:\+|\b00)[1-9](?:[ .-]?\(?\d\)?){7,14}"
    r"|"
    # North American: 412-555-0134, (412) 555-0134, 412.555.0134, 4125550134, +1 412 555 0134, 1-800-555-0100
    r"(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-]?)\d{3}[ .-]?\d{4}"
    r"|"
    # seven digits written as a phone number: 555-0134
    r"\d{3}[.-]\d{4}"
    r")" + _AFTER
)


def masked(text: str) -> str:
    """The text with e-mail addresses and phone numbers replaced."""
    if not text:
        return text
    text = _EMAIL.sub(EMAIL, text)
    if any(c.isdigit() for c in text):
        text = _PHONE.sub(PHONE, text)
    return text


_URL = re.compile(
    r"(?:\bhttps?://|\bwww\.)[^\s<>\"']+"
    r"|\b(?:[a-z0-9-]+\.)+(?:com|org|net|gov|edu|info|biz|io|us|co|me|ly|app|health)\b(?:/[^\s<>\"']*)?",
    re.IGNORECASE,
)
_DIGITS = re.compile(r"\d{4,}")
_WORD = r"[^\W\d_](?:[^\W\d_]|['’-])*"  # a word of letters, any alphabet
_CAPITALISED = r"[A-ZÀ-ÖØ-Þ](?:[^\W\d_]|['’-])*"
# "my name is john smith": the words after it are a name whatever their case
_NAME_STRONG = re.compile(
    rf"\b(?:my\s+name\s+is|my\s+name['’]?s|name\s+is|i\s+am\s+called|they\s+call\s+me)"
    rf"((?:\s+{_WORD}){{1,3}})",
    re.IGNORECASE,
)
# "I'm Sarah", "this is Dr. Smith": only capitalised words count as a name
_NAME_WEAK = re.compile(
    r"\b(?:[Ii]['’]?m|[Ii]\s+am|[Tt]his\s+is|[Cc]all\s+me)"
    rf"((?:\s+(?:Mr|Mrs|Ms|Miss|Dr)\.?)?(?:\s+{_CAPITALISED}){{1,3}})"
)
_TITLES = {"mr", "mrs", "ms", "miss", "dr"}
# capitalised words that follow "I'm" without being a name (sentence case, emphasis)
_NOT_NAMES = {
    "not", "so", "very", "really", "just", "still", "also", "only", "currently", "now", "here", "there",
    "a", "an", "the", "on", "in", "off", "at", "from", "with", "about", "going", "trying", "taking",
    "looking", "asking", "calling", "having", "feeling", "getting", "thinking", "wondering", "worried",
    "scared", "afraid", "sorry", "sure", "unsure", "new", "pregnant", "addicted", "struggling",
    "concerned", "curious", "confused", "ok", "okay", "fine", "good", "tired", "done", "back", "clean",
    "sober", "ready", "able", "unable", "writing", "reaching", "is", "was", "what", "how", "why",
}


@lru_cache(maxsize=1)
def _stop_words() -> FrozenSet[str]:
    """Words that are not a name: scikit-learn's stop words (imported here, so that the servers'
    log filter does not load scikit-learn) and the words above."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | frozenset(_NOT_NAMES)


def _url(match: re.Match) -> str:
    # "see www.example.com." -> the full stop ends the sentence, not the link
    found = match.group(0)
    return "[url]" + found[len(found.rstrip(".,;:!?)]")):]


def _strong_name(match: re.Match) -> str:
    head = match.group(0)[: match.start(1) - match.start(0)]
    words = match.group(1).split()
    count = 0
    for word in words:  # "my name is not important": no name
        if not (word[0].isupper() or word.strip("'’-").lower() not in _stop_words()):
            break
        count += 1
    if not count:
        return match.group(0)
    rest = words[count:]
    return f"{head} [name]" + (" " + " ".join(rest) if rest else "")


def _weak_name(match: re.Match) -> str:
    words = match.group(1).split()
    count = 0
    for word in words:
        plain = word.rstrip(".").lower()
        if plain in _TITLES or (plain not in _stop_words() and word[0].isupper()):
            count += 1
            continue
        break
    if not count or all(w.rstrip(".").lower() in _TITLES for w in words[:count]):
        return match.group(0)
    head = match.group(0)[: match.start(1) - match.start(0)]
    rest = words[count:]
    return f"{head} [name]" + (" " + " ".join(rest) if rest else "")


def mask_pii(text: str) -> str:
    """The text with personal data replaced by placeholders.

    ``[email]``, ``[url]``, ``[phone]`` (US formats, with or without +1, dashes,
    dots, spaces or parentheses), ``[number]`` (any other run of 4+ digits:
    member and ID numbers) and ``[name]`` (the words after "my name is", and
    capitalised words after "I'm" / "this is"). Lower-case names after "I'm"
    cannot be told from ordinary words and are kept.
    """
    text = _EMAIL.sub(EMAIL, text)
    text = _URL.sub(_url, text)
    text = _PHONE.sub(PHONE, text)
    text = _DIGITS.sub("[number]", text)
    text = _NAME_STRONG.sub(_strong_name, text)
    text = _NAME_WEAK.sub(_weak_name, text)
    return text
