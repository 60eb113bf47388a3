"""Read a coachee's reply to a program `question` step, the way people actually type on a phone.

`parse_answer` turns a reply into a JSON-serializable value according to the step's `AnswerSpec`,
or raises `InvalidAnswer`, whose message is a short sentence for the coachee. Replies are compared
after NFKC, case folding and accent stripping ("Génial" == "genial"). Numbers, times and dates are
read in English words; yes/no also in es/pt/fr/de/nl/it. Numeric dates are day-first ("12/03/2026"
is 12 March) unless only month-first makes sense ("03/25/2026"). A date without a year is the
nearest such date to today (on 30 December, "2 January" is next year's).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

AnswerType = Literal["choice", "number", "scale", "yes_no", "text", "time", "date"]


@dataclass(frozen=True)
class ChoiceOption:
    label: str
    value: str  # what gets stored; also the payload of the button


@dataclass(frozen=True)
class AnswerSpec:
    type: AnswerType
    choices: tuple[ChoiceOption, ...] = ()
    min: float | None = None  # number: bounds; scale: required integer bounds (e.g. 1..10)
    max: float | None = None
    pattern: str | None = None  # text: a regex the whole answer must match (fullmatch, IGNORECASE)
    max_length: int | None = None  # text


class InvalidAnswer(ValueError):
    """`str(exc)` is a short, friendly sentence to show the coachee, e.g. "Please send a whole
    number from 1 to 10." """


Answer = str | int | float | bool


def parse_answer(
    spec: AnswerSpec, text: str | None, choice_payload: str | None, today: date
) -> Answer:
    """The stored value of a reply: a tapped button's `choice_payload` and/or typed `text`.

    A payload that is one of the choices' values wins; otherwise the payload, then the text, are
    read as typed replies (so buttons for yes/no or a scale may carry "yes" or "7"). Raises
    `InvalidAnswer` with the message of the last reply tried, or plain ValueError for a scale
    without bounds (a definition error).
    """
    if spec.type == "choice" and choice_payload is not None:
        for option in spec.choices:
            if option.value == choice_payload:
                return option.value
    error = InvalidAnswer(_please(spec))
    for reply in (r for r in (choice_payload, text) if r is not None and r.strip()):
        try:
            return _PARSERS[spec.type](spec, reply, today)
        except InvalidAnswer as exc:
            error = exc
    raise error


def expected_format(spec: AnswerSpec) -> str:
    """What the question expects, to go after "Please send": "a whole number from 1 to 10"."""
    if spec.type == "choice":
        return "one of: " + ", ".join(option.label for option in spec.choices)
    if spec.type in ("number", "scale"):
        noun = "a number" if spec.type == "number" else "a whole number"
        low, high = (_show(b) if b is not None else None for b in (spec.min, spec.max))
        if low is not None and high is not None:
            return f"{noun} from {low} to {high}"
        if low is not None or high is not None:
            return f"{noun} of at {'least' if low is not None else 'most'} {low or high}"
        return noun
    if spec.type == "text":
        limit = f" of up to {spec.max_length} characters" if spec.max_length else ""
        return f"a text answer{limit}"
    return {
        "yes_no": "yes or no",
        "time": "a time like 07:30",
        "date": "a date like 12 March or 2026-03-12",
    }[spec.type]


# --- normalization ---------------------------------------------------------------------------

_QUOTES = str.maketrans(dict.fromkeys("\u2018\u2019\u02bc\u00b4`", "'") | {"\u2212": "-"})
_DECORATION = re.compile("[\ufe0e\ufe0f\u200b-\u200f\u2060\ufeff\U0001f3fb-\U0001f3ff]")


def _fold(text: str) -> str:
    """NFKC, casefolded, accents and emoji variation selectors removed, single spaces."""
    text = unicodedata.normalize("NFKC", _DECORATION.sub("", text.translate(_QUOTES))).casefold()
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return " ".join(unicodedata.normalize("NFC", text).split())


def _trim(text: str) -> str:
    """Without the punctuation, symbols and emoji around it: "¡Sí! 🙂" -> "sí"."""
    start, end = 0, len(text)
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum():
        end -= 1
    return text[start:end]


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+(?:'[^\W_]+)*", text)


def _split(words: str, sep: str = " ") -> list[str]:
    return words.split(sep)


def _vocabulary(phrases: str) -> frozenset[str]:
    return frozenset(phrases.split("|"))


def _numbered(groups: str, start: int) -> dict[str, int]:
    """{"january": 1, "jan": 1, ...} from "january jan|february feb|..."."""
    return {name: n for n, group in enumerate(groups.split("|"), start) for name in group.split()}


def _please(spec: AnswerSpec) -> str:
    if spec.type == "yes_no":
        return "Please answer yes or no."
    expected = expected_format(spec)
    return f"Please send {expected}{'' if expected.endswith(('.', '!', '?')) else '.'}"


def _show(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


# --- numbers -----------------------------------------------------------------------------------

_SMALL = _split(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty"
)
_TENS = _split("twenty thirty forty fifty sixty seventy eighty ninety")
_WORD_VALUES = {w: n for n, w in enumerate(_SMALL)} | {w: 20 + 10 * n for n, w in enumerate(_TENS)}
_WORD_NUMBER = re.compile(
    rf"(?P<hundred>(?:(?:one|a)\s+)?hundred)\b"
    rf"|(?P<tens>{'|'.join(_TENS)})(?:[\s-]+(?P<unit>{'|'.join(_SMALL[1:10])}))?\b"
    rf"|(?P<small>{'|'.join(_SMALL)})\b"
)
_ANOTHER_NUMBER = re.compile(rf"\b(?:{_WORD_NUMBER.pattern})")
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d{1,12})(?:[.,]\d{1,6})?(?!\d)")
_APPROX = re.compile(r"^(?:about|around|approx(?:imately|\.)?|roughly|circa|ca\.|~|≈)\s*")


def _leading_number(text: str) -> tuple[Decimal, str] | None:
    """The number a reply starts with ("7,5", "1,500", "seven", "twenty-one") and what follows.

    A comma before exactly three digits groups thousands ("10,000"); otherwise it is a decimal
    comma ("7,5").
    """
    s = _fold(text).replace("\u20e3", "").replace("🔟", "10")
    s = _APPROX.sub("", s, count=1)
    if match := _NUMBER.match(s):
        digits = match.group(0)
        if re.fullmatch(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", digits):
            digits = digits.replace(",", "")
        return Decimal(digits.replace(",", ".")), s[match.end() :]
    if match := _WORD_NUMBER.match(s):
        if match["hundred"]:
            value = 100
        elif match["tens"]:
            value = _WORD_VALUES[match["tens"]] + (
                _WORD_VALUES[match["unit"]] if match["unit"] else 0
            )
        else:
            value = _WORD_VALUES[match["small"]]
        return Decimal(value), s[match.end() :]
    return None


def _plain_number(text: str) -> Decimal | None:
    """A number with at most a short unit after it ("72 kg", "7 hours"), else None."""
    found = _leading_number(text)
    if found is None:
        return None
    rest = _trim(found[1])
    if re.search(r"\d", rest) or _ANOTHER_NUMBER.search(rest) or len(rest.split()) > 3:
        return None  # "5-6", "seven or eight", or a sentence
    return found[0]


def _in_bounds(spec: AnswerSpec, value: Decimal) -> bool:
    return (spec.min is None or value >= Decimal(str(spec.min))) and (
        spec.max is None or value <= Decimal(str(spec.max))
    )


def _parse_number(spec: AnswerSpec, text: str, today: date) -> Answer:
    value = _plain_number(text)
    if value is None or not _in_bounds(spec, value):
        raise InvalidAnswer(_please(spec))
    return int(value) if value == value.to_integral_value() else float(value)


def _parse_scale(spec: AnswerSpec, text: str, today: date) -> Answer:
    if spec.min is None or spec.max is None:
        raise ValueError("a scale answer needs integer min and max bounds")
    found = _leading_number(text)
    value: Decimal | None = None
    if found is not None:
        value, rest = found
        out_of = re.fullmatch(r"\s*(?:/|out of|of)\s*(.+)", rest)
        if out_of:
            total = _plain_number(out_of.group(1))
            value = value if total is not None and total == Decimal(str(spec.max)) else None
        else:
            value = _plain_number(text)
    if value is None or value != value.to_integral_value() or not _in_bounds(spec, value):
        raise InvalidAnswer(_please(spec))
    return int(value)


# --- yes / no ----------------------------------------------------------------------------------

_YES_WORDS = _vocabulary(
    "yes|y|yeah|yea|yep|yup|ya|yah|yas|sure|ok|okay|k|kk|oki|okie|alright|aye|absolutely|definitely|"
    "certainly|totally|indeed|affirmative|si|claro|vale|sim|oui|ouais|ja|jawohl|jep|jup|jazeker|"
    "certo|certamente|d'accord|jawel|zeker"
)
_NO_WORDS = _vocabulary("no|n|nope|nah|naw|nay|never|negative|non|nao|nein|nee|neen")
_YES_PHRASES = _vocabulary(
    "of course|for sure|sure thing|yes please|no problem|no worries|no doubt|i think so|"
    "por supuesto|claro que si|bien sur|na klar|claro que sim|per forza"
)
_NO_PHRASES = _vocabulary(
    "not really|not at all|not yet|no way|of course not|absolutely not|definitely not|"
    "certainly not|i don't think so|i dont think so|por supuesto que no|claro que no|"
    "claro que nao|para nada|en absoluto|de jeito nenhum|pas vraiment|pas du tout|"
    "bien sur que non|auf keinen fall|nicht wirklich|gar nicht|niet echt|helemaal niet|"
    "per niente|non proprio|non ancora|todavia no|ainda nao|pas encore|noch nicht|nog niet"
)
_UNSURE_PHRASES = _vocabulary(
    "not sure|not certain|no idea|dunno|don't know|dont know|idk|maybe|perhaps|probably|"
    "possibly|kind of|kinda|sort of|sorta|yes and no|yes or no|no se|nao sei|je ne sais pas|"
    "je sais pas|weiss nicht|keine ahnung|vielleicht|weet niet|geen idee|misschien|non lo so|"
    "forse|quizas|quiza|tal vez|talvez|peut etre"
)
_PHRASES: dict[str, bool | None] = (  # None: unsure, so neither yes nor no
    dict.fromkeys(_YES_PHRASES, True)
    | dict.fromkeys(_NO_PHRASES, False)
    | dict.fromkeys(_UNSURE_PHRASES, None)
)
_LONGEST_FIRST = sorted(_PHRASES, key=len, reverse=True)
_YES_EMOJI = set("👍✅✔☑👌🆗")
_NO_EMOJI = set("👎❌✖✗🚫⛔❎")


def _parse_yes_no(spec: AnswerSpec, text: str, today: date) -> Answer:
    folded = _fold(text)
    words = _words(folded.replace("-", " "))
    if not words:  # only emoji or punctuation
        symbols = set(folded) - set(" !.")
        if symbols and symbols <= _YES_EMOJI:
            return True
        if symbols and symbols <= _NO_EMOJI:
            return False
        raise InvalidAnswer(_please(spec))
    joined = " ".join(words)
    for phrase in _LONGEST_FIRST:
        if joined == phrase or joined.startswith(phrase + " "):
            verdict = _PHRASES[phrase]
            if verdict is None:
                raise InvalidAnswer(_please(spec))
            return verdict
    for first in (words[0], re.sub(r"(.)\1+", r"\1", words[0])):  # "yesss", "noooo"
        if first in _YES_WORDS:
            return True
        if first in _NO_WORDS:
            return False
    raise InvalidAnswer(_please(spec))


# --- text --------------------------------------------------------------------------------------


def _parse_text(spec: AnswerSpec, text: str, today: date) -> Answer:
    answer = text.strip()
    if not answer:
        raise InvalidAnswer(_please(spec))
    if spec.max_length is not None and len(answer) > spec.max_length:
        raise InvalidAnswer(f"Please keep your answer to {spec.max_length} characters or fewer.")
    if spec.pattern is not None and re.fullmatch(spec.pattern, answer, re.IGNORECASE) is None:
        raise InvalidAnswer("That doesn't look like the expected format. Please try again.")
    return answer


# --- time --------------------------------------------------------------------------------------

_CLOCK = re.compile(r"(\d{1,2})(?:[:.h ](\d{2}))?\s*(?:h|hrs?|uhr)?|(\d{1,2})(\d{2})")
_MERIDIEM = re.compile(r"(.*?)\s*(?:([ap])\.?\s?m\.?|([ap])|in the (morning|afternoon|evening))")
_RELATIVE = re.compile(
    r"(?P<n>.+?)\s+(?P<min>minutes?\s+)?(?P<dir>past|after|to|before|till?)\s+(?P<h>.+)"
    r"|half\s+(?P<half>.+)"  # British "half 7" is 07:30
)


def _minutes(text: str) -> int | None:
    """Minutes after midnight for "7", "7pm", "19:30", "1930", "noon", "quarter to 8", ..."""
    s = re.sub(r"\s*(?:o'?clock|ish)$", "", text.strip())
    if s in ("noon", "midday", "12 noon"):
        return 12 * 60
    if s == "midnight":
        return 0
    if relative := _RELATIVE.fullmatch(s):
        if relative["half"]:
            base = _minutes(relative["half"])
            return None if base is None else (base + 30) % 1440
        offset = {"half": 30, "quarter": 15}.get(relative["n"])
        count = _plain_number(relative["n"]) if offset is None else None
        # "10 to 8" is 07:50, but "7 to 8" is more likely a range than 07:53
        if count is not None and count % (1 if relative["min"] else 5) == 0 and 0 < count < 60:
            offset = int(count)
        base = _minutes(relative["h"])
        if offset is None or base is None or base % 60:
            return None
        return (base + (offset if relative["dir"] in ("past", "after") else -offset)) % 1440
    meridiem = None
    if (match := _MERIDIEM.fullmatch(s)) and match[1]:
        s, word = match[1], match[4]
        meridiem = match[2] or match[3] or ("a" if word == "morning" else "p")
    if clock := _CLOCK.fullmatch(s):
        hour, minute = int(clock[1] or clock[3]), int(clock[2] or clock[4] or 0)
    elif (
        (word_hour := _plain_number(s)) is not None and word_hour == int(word_hour) and s.isalpha()
    ):
        hour, minute = int(word_hour), 0
    else:
        return None
    if meridiem is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    return hour * 60 + minute if hour < 24 and minute < 60 else None


def _parse_time(spec: AnswerSpec, text: str, today: date) -> Answer:
    s = _fold(text).rstrip(" !?,;")
    s = re.sub(r"^(?:at|around|about|by|~)\s*", "", s).rstrip(".")
    if s.endswith(("a.m", "p.m")):
        s += "."
    value = _minutes(s)
    if value is None:
        raise InvalidAnswer(_please(spec))
    return f"{value // 60:02d}:{value % 60:02d}"


# --- dates -------------------------------------------------------------------------------------

_MONTHS = _numbered(
    "january jan|february feb|march mar|april apr|may|june jun|july jul|august aug|"
    "september sep sept|october oct|november nov|december dec",
    start=1,
)
_WEEKDAYS = _numbered(
    "monday mon|tuesday tue tues|wednesday wed|thursday thu thur thurs|friday fri|"
    "saturday sat|sunday sun",
    start=0,
)
_RELATIVE_DAYS = {"today": 0, "tonight": 0, "tomorrow": 1, "tmrw": 1, "tmr": 1, "yesterday": -1}
_RELATIVE_DAYS |= {"day after tomorrow": 2, "day before yesterday": -2}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_FORMS = [
    re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"),
    re.compile(r"(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})(?:[/.-](?P<y>\d{4}|\d{2}))?"),
    re.compile(rf"(?P<d>\d{{1,2}}) (?P<mname>{_MONTH})(?: (?P<y>\d{{4}}))?"),
    re.compile(rf"(?P<mname>{_MONTH}) (?P<d>\d{{1,2}})(?: (?P<y>\d{{4}}))?"),
]


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _calendar_date(s: str, today: date) -> date | None:
    for form in _DATE_FORMS:
        if (match := form.fullmatch(s)) is None:
            continue
        day = int(match["d"])
        month = _MONTHS[match["mname"]] if match.groupdict().get("mname") else int(match["m"])
        if match["y"]:
            year = int(match["y"]) + (2000 if len(match["y"]) == 2 else 0)
            found = _date(year, month, day)
            if found is None and form is _DATE_FORMS[1]:
                found = _date(year, day, month)  # month-first, when only that makes sense
            return found
        candidates = [_date(today.year + k, month, day) for k in (-1, 0, 1)]
        if not any(candidates) and form is _DATE_FORMS[1]:
            candidates = [_date(today.year + k, day, month) for k in (-1, 0, 1)]
        valid = [c for c in candidates if c is not None]
        return min(valid, key=lambda c: (abs((c - today).days), c < today)) if valid else None
    return None


def _parse_date(spec: AnswerSpec, text: str, today: date) -> Answer:
    s = re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1", _trim(_fold(text)).replace(",", " "))
    s = " ".join(w for w in re.sub(r"([a-z])\.", r"\1", s).split() if w not in ("on", "the", "of"))
    try:
        found = _find_date(s, today)
    except OverflowError:  # "in 99999999 days", or today is 9999-12-31
        found = None
    if found is None:
        raise InvalidAnswer(_please(spec))
    return found.isoformat()


def _find_date(s: str, today: date) -> date | None:
    if s in _RELATIVE_DAYS:
        return today + timedelta(days=_RELATIVE_DAYS[s])
    if match := re.fullmatch(r"(in )?(.+?) (days?|weeks?)( ago)?", s):
        count = Decimal(1) if match[2] in ("a", "an") else _plain_number(match[2])
        if count is None or count < 0 or count % 1 or bool(match[1]) == bool(match[4]):
            return None
        days = int(count) * (7 if match[3].startswith("week") else 1)
        return today + timedelta(days=-days if match[4] else days)
    if match := re.fullmatch(rf"(?:(next|this|coming|last) )?({'|'.join(_WEEKDAYS)})", s):
        ahead = (_WEEKDAYS[match[2]] - today.weekday()) % 7
        if match[1] == "last":
            return today - timedelta(days=(7 - ahead) or 7)
        return today + timedelta(days=ahead or (0 if match[1] == "this" else 7))
    first, _, rest = s.partition(" ")
    return _calendar_date(rest if first in _WEEKDAYS and rest else s, today)


# --- choices -----------------------------------------------------------------------------------


def _keys(text: str) -> tuple[str, str]:
    """The words of a label or reply ("great thanks"), and its text without spaces (for emoji)."""
    folded = _fold(text)
    return " ".join(_words(folded)), "".join(folded.split())


def _parse_choice(spec: AnswerSpec, text: str, today: date) -> Answer:
    options = spec.choices
    labels = [_keys(o.label) for o in options]
    values = [_keys(o.value.replace("_", " ").replace("-", " ")) for o in options]
    words, raw = _keys(text)
    if not raw:  # nothing left but invisible characters
        raise InvalidAnswer(_please(spec))
    numbered = not any(re.search(r"\d", o.label) for o in options)  # else "2" may be a label
    index = re.fullmatch(
        r"(?:#|no\.?|number|option)?\s*(\d{1,3})\s*[.):!]*", _fold(text).replace("\u20e3", "")
    )
    levels: list[list[int]] = [
        [
            i
            for i, keys in enumerate(labels)
            if (words and words in (keys[0], values[i][0])) or raw in (keys[1], values[i][1])
        ],
        [int(index[1]) - 1] if index and numbered and 0 < int(index[1]) <= len(options) else [],
        [i for i, keys in enumerate(labels) if words and f" {words} " in f" {keys[0]} "],
        [
            i
            for i, keys in enumerate(labels)
            if (len(words) >= 2 and keys[0].startswith(words))
            or (not raw[:1].isalnum() and keys[1].startswith(raw))
        ],
    ]
    for hits in levels:
        if len(hits) == 1:
            return options[hits[0]].value
        if hits:
            matched = " or ".join(options[i].label for i in hits)
            raise InvalidAnswer(f"That could be {matched}. {_please(spec)}")
    raise InvalidAnswer(_please(spec))


# --- questions ---------------------------------------------------------------------------------

_WH = _vocabulary("what|how|why|when|where|which|who|whom|whose|whats|hows|wheres|whos")
_ONE_WORD_QUESTIONS = _WH | _vocabulary("huh|sorry|pardon|really|seriously")
_AUX = _vocabulary(
    "can|could|should|would|is|are|am|was|were|do|does|did|will|may|shall|have|has|can't|cant|"
    "couldn't|shouldn't|wouldn't|isn't|isnt|aren't|arent|don't|dont|doesn't|doesnt|didn't|didnt|"
    "won't|wont"
)
_SUBJECTS = _vocabulary(
    "i|you|u|we|they|he|she|it|this|that|these|those|there|my|your|our|their|his|her|the|a|an|"
    "someone|anyone|anybody|somebody|everyone"
)


def looks_like_question(text: str) -> bool:
    """Whether a reply is clearly a question to the coach rather than an answer.

    It ends with "?" (emoji and spaces after it aside) and is more than one word ("7?" and "yes?"
    are unsure answers, "why?" is a question); or it has 3+ words and starts with an English
    question word (what, how, why, ...) or with an auxiliary followed by a subject ("can I ...",
    "is it ...", but not "did 20 pushups today").
    """
    s = _fold(text).replace("❓", "?").replace("❔", "?")
    while s and not (s[-1].isalnum() or s[-1] == "?"):
        s = s[:-1]
    words = [re.sub(r"'(?:s|re|ll|d)$", "", w) for w in _words(s)]
    if not words:
        return False
    if s.endswith("?") or s.startswith("¿"):
        return len(s.split()) >= 2 or words[0] in _ONE_WORD_QUESTIONS
    if len(s.split()) < 3 or len(words) < 2:
        return False
    return words[0] in _WH or (words[0] in _AUX and words[1] in _SUBJECTS)


_PARSERS = {
    "choice": _parse_choice,
    "number": _parse_number,
    "scale": _parse_scale,
    "yes_no": _parse_yes_no,
    "text": _parse_text,
    "time": _parse_time,
    "date": _parse_date,
}
