from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from programs.answers import (
    AnswerSpec,
    AnswerType,
    ChoiceOption,
    InvalidAnswer,
    expected_format,
    looks_like_question,
    parse_answer,
)

TODAY = date(2026, 3, 12)  # a Thursday
MOOD = AnswerSpec(
    "choice",
    choices=(
        ChoiceOption("Poor", "poor"),
        ChoiceOption("OK", "ok"),
        ChoiceOption("Great, thanks!", "great"),
    ),
)
PRETTY = AnswerSpec(
    "choice",
    choices=(
        ChoiceOption("Pretty bad", "bad"),
        ChoiceOption("Pretty good", "good"),
        ChoiceOption("😀 Excellent", "excellent"),
    ),
)
MINUTES = AnswerSpec(
    "choice",
    choices=(
        ChoiceOption("5 min", "5"),
        ChoiceOption("10 min", "10"),
        ChoiceOption("15 min", "15"),
    ),
)
CAFE = AnswerSpec(
    "choice", choices=(ChoiceOption("Café", "cafe"), ChoiceOption("Thé vert", "green_tea"))
)
WEIGHT = AnswerSpec("number", min=0, max=500)
ANY_NUMBER = AnswerSpec("number")
SCALE = AnswerSpec("scale", min=1, max=10)
YES_NO = AnswerSpec("yes_no")
TEXT = AnswerSpec("text")
TIME = AnswerSpec("time")
DATE = AnswerSpec("date")


def parse(spec: AnswerSpec, text: str | None, payload: str | None = None) -> object:
    value = parse_answer(spec, text, payload, TODAY)
    json.dumps(value)  # always storable as JSON
    return value


def rejects(spec: AnswerSpec, text: str | None, payload: str | None = None) -> str:
    with pytest.raises(InvalidAnswer) as caught:
        parse_answer(spec, text, payload, TODAY)
    return str(caught.value)


# --- choice -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "text", "expected"),
    [
        (MOOD, "OK", "ok"),
        (MOOD, "ok", "ok"),
        (MOOD, "  OK!! ", "ok"),
        (MOOD, "ok 👍", "ok"),
        (MOOD, "Poor 😞", "poor"),
        (MOOD, "PÓÓR", "poor"),
        (MOOD, "Great, thanks!", "great"),
        (MOOD, "great thanks", "great"),
        (MOOD, "Great thanks 😊", "great"),
        (MOOD, "great", "great"),  # a word of one label
        (MOOD, "thanks", "great"),
        (MOOD, "gre", "great"),  # an unambiguous prefix
        (MOOD, "po", "poor"),
        (MOOD, "1", "poor"),  # the option number
        (MOOD, "2", "ok"),
        (MOOD, "2.", "ok"),
        (MOOD, "#2", "ok"),
        (MOOD, "2)", "ok"),
        (MOOD, "3", "great"),
        (MOOD, "option 3", "great"),
        (MOOD, "2️⃣", "ok"),
        (PRETTY, "pretty good", "good"),
        (PRETTY, "Pretty  GOOD", "good"),
        (PRETTY, "bad", "bad"),
        (PRETTY, "good", "good"),
        (PRETTY, "😀", "excellent"),
        (PRETTY, "excellent", "excellent"),
        (PRETTY, "exc", "excellent"),
        (MINUTES, "10", "10"),  # labels with numbers: "10" is a label, not option 10
        (MINUTES, "10 min", "10"),
        (MINUTES, "5", "5"),
        (MINUTES, "15 min.", "15"),
        (CAFE, "cafe", "cafe"),
        (CAFE, "CAFÉ", "cafe"),
        (CAFE, "the vert", "green_tea"),
        (CAFE, "green tea", "green_tea"),  # the stored value, read as words
        (CAFE, "green_tea", "green_tea"),
    ],
)
def test_choice_accepts(spec: AnswerSpec, text: str, expected: str) -> None:
    assert parse(spec, text) == expected


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        (MOOD, "4"),
        (MOOD, "0"),
        (MOOD, "#7"),
        (MOOD, "terrible"),
        (MOOD, "g"),  # one letter is too little to go on
        (MOOD, "not great"),
        (MOOD, "poor or ok"),
        (MOOD, "🙂"),
        (MOOD, "\ufe0f\u200b"),
        (MINUTES, "2"),  # no option numbers when labels contain numbers
        (MINUTES, "20"),
        (PRETTY, "very good"),
    ],
)
def test_choice_rejects_unknown(spec: AnswerSpec, text: str) -> None:
    message = rejects(spec, text)
    assert message.startswith("Please send one of: ")


@pytest.mark.parametrize("text", ["pretty", "PRETTY!", "pre"])
def test_choice_rejects_ambiguous(text: str) -> None:
    message = rejects(PRETTY, text)
    assert message == (
        "That could be Pretty bad or Pretty good. "
        "Please send one of: Pretty bad, Pretty good, 😀 Excellent."
    )


def test_choice_error_lists_the_options() -> None:
    assert rejects(MOOD, "terrible") == "Please send one of: Poor, OK, Great, thanks!"


@pytest.mark.parametrize(
    ("text", "payload", "expected"),
    [
        (None, "great", "great"),
        ("Great, thanks!", "great", "great"),
        ("something else", "ok", "ok"),  # the payload wins
        ("ok", "stale-button", "ok"),  # an unknown payload falls back to the text
        (None, "OK", "ok"),  # a payload that is not a value is read like typed text
        ("ok", None, "ok"),
    ],
)
def test_choice_payload(text: str | None, payload: str | None, expected: str) -> None:
    assert parse(MOOD, text, payload) == expected


@pytest.mark.parametrize(("text", "payload"), [(None, None), ("", None), ("   ", ""), (None, "x")])
def test_choice_without_a_usable_reply(text: str | None, payload: str | None) -> None:
    assert rejects(MOOD, text, payload).startswith("Please send one of:")


# --- number -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", 7),
        ("7.5", 7.5),
        ("7,5", 7.5),
        ("-3", -3),
        ("−3", -3),  # a Unicode minus
        ("+4", 4),
        ("0", 0),
        ("72 kg", 72),
        ("72kg", 72),
        ("72.5 kg", 72.5),
        ("about 7", 7),
        ("around 7", 7),
        ("~7", 7),
        ("approx. 8", 8),
        ("roughly 12 hours", 12),
        ("7.0", 7),
        ("7.", 7),
        ("7!", 7),
        ("10,000", 10000),
        ("1,500 steps", 1500),
        ("1,500.5", 1500.5),
        ("zero", 0),
        ("seven", 7),
        ("Seven", 7),
        ("twelve", 12),
        ("twenty", 20),
        ("twenty-one", 21),
        ("twenty one", 21),
        ("forty two", 42),
        ("ninety-nine", 99),
        ("hundred", 100),
        ("a hundred", 100),
        ("one hundred", 100),
        ("fifty kg", 50),
        ("8 hours of sleep", 8),
        ("50%", 50),
    ],
)
def test_number_accepts(text: str, expected: float) -> None:
    value = parse(ANY_NUMBER, text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "seven-ish or eight",
        "7 or 8",
        "5-6",
        "7 to 8",
        "1e5",
        "12.345.678",
        "some",
        "I slept 8 hours",  # the number has to come first
        "7 hours and a bit more than that",
        "1" * 40,
    ],
)
def test_number_rejects(text: str) -> None:
    assert rejects(ANY_NUMBER, text) == "Please send a number."


@pytest.mark.parametrize(
    ("text", "valid"), [("0", True), ("500", True), ("-1", False), ("500.5", False), ("501", False)]
)
def test_number_bounds(text: str, valid: bool) -> None:
    if valid:
        assert parse(WEIGHT, text) == float(text)
    else:
        assert rejects(WEIGHT, text) == "Please send a number from 0 to 500."


def test_number_bounds_may_be_fractional() -> None:
    spec = AnswerSpec("number", min=0.5, max=2.5)
    assert parse(spec, "2,5") == 2.5
    assert rejects(spec, "3") == "Please send a number from 0.5 to 2.5."


# --- scale --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", 7),
        ("1", 1),
        ("10", 10),
        ("7/10", 7),
        ("7 / 10", 7),
        ("7 out of 10", 7),
        ("7 of 10", 7),
        ("seven", 7),
        ("seven out of ten", 7),
        ("ten", 10),
        ("7!", 7),
        ("7.0", 7),
        ("~7", 7),
        ("🔟", 10),
        ("7️⃣", 7),
        ("7 points", 7),
    ],
)
def test_scale_accepts(text: str, expected: int) -> None:
    value = parse(SCALE, text)
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize(
    "text",
    ["7.5", "7,5", "0", "11", "-1", "7/5", "7 out of 5", "8/100", "abc", "7-8", "7 or 8", ""],
)
def test_scale_rejects(text: str) -> None:
    assert rejects(SCALE, text) == "Please send a whole number from 1 to 10."


def test_scale_with_other_bounds() -> None:
    spec = AnswerSpec("scale", min=0, max=5)
    assert parse(spec, "0") == 0
    assert parse(spec, "4/5") == 4
    assert rejects(spec, "7/10") == "Please send a whole number from 0 to 5."


def test_scale_without_bounds_is_a_definition_error() -> None:
    with pytest.raises(ValueError, match="needs integer min and max") as caught:
        parse_answer(AnswerSpec("scale"), "7", None, TODAY)
    assert not isinstance(caught.value, InvalidAnswer)


def test_scale_from_a_button_payload() -> None:
    assert parse(SCALE, None, "7") == 7


# --- yes / no -----------------------------------------------------------------------------------

YES = [
    "yes",
    "Yes",
    "YES!",
    "y",
    "Y",
    "yeah",
    "yep",
    "yup",
    "sure",
    "ok",
    "OK",
    "okay",
    "k",
    "of course",
    "Of course!",
    "absolutely",
    "definitely",
    "yes please",
    "yesss",
    "Yes 🙂",
    "👍",
    "👍🏽",
    "👍👍",
    "✅",
    "✔️",
    "yes but only a little",
    "yes, but not today",
    "yeah sure",
    "no problem",
    "for sure",
    "sure thing",
    "i think so",
    "sí",
    "si",
    "Sí, claro",
    "claro",
    "vale",
    "sim",
    "claro que sim",
    "oui",
    "ouais",
    "bien sûr",
    "ja",
    "Ja!",
    "jawohl",
    "na klar",
    "jazeker",
    "sì",
    "certo",
    "d’accord",
]
NO = [
    "no",
    "No.",
    "NO!",
    "n",
    "nope",
    "nah",
    "not really",
    "never",
    "noooo",
    "no, sorry",
    "no but I will tomorrow",
    "not at all",
    "not yet",
    "no way",
    "absolutely not",
    "of course not",
    "definitely not",
    "i don't think so",
    "I don’t think so",
    "👎",
    "👎🏻",
    "❌",
    "não",
    "nao",
    "non",
    "nein",
    "nee",
    "pas vraiment",
    "auf keinen fall",
    "para nada",
    "ainda não",
]
UNSURE = [
    "not sure",
    "Not sure yet",
    "maybe",
    "perhaps",
    "probably",
    "no idea",
    "dunno",
    "i don't know",
    "idk",
    "kind of",
    "sort of",
    "yes and no",
    "no sé",
    "não sei",
    "je ne sais pas",
    "weiß nicht",
    "keine ahnung",
    "misschien",
    "non lo so",
    "tal vez",
    "hmm",
    "later",
    "🤷",
    "👍👎",
    "🙂",
    "?",
    "what",
    "",
]


@pytest.mark.parametrize("text", YES)
def test_yes(text: str) -> None:
    assert parse(YES_NO, text) is True


@pytest.mark.parametrize("text", NO)
def test_no(text: str) -> None:
    assert parse(YES_NO, text) is False


@pytest.mark.parametrize("text", UNSURE)
def test_neither_yes_nor_no(text: str) -> None:
    assert rejects(YES_NO, text) == "Please answer yes or no."


@pytest.mark.parametrize(("payload", "expected"), [("yes", True), ("no", False)])
def test_yes_no_from_a_button_payload(payload: str, expected: bool) -> None:
    assert parse(YES_NO, None, payload) is expected


# --- text ---------------------------------------------------------------------------------------


def test_text_is_stripped() -> None:
    assert parse(TEXT, "  Walk the dog \n") == "Walk the dog"


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_text_must_not_be_empty(text: str) -> None:
    assert rejects(TEXT, text) == "Please send a text answer."


def test_text_max_length() -> None:
    spec = AnswerSpec("text", max_length=10)
    assert parse(spec, " " + "x" * 10 + " ") == "x" * 10
    assert rejects(spec, "x" * 11) == "Please keep your answer to 10 characters or fewer."
    assert expected_format(spec) == "a text answer of up to 10 characters"


@pytest.mark.parametrize(
    ("text", "valid"),
    [("AB-123", True), ("ab-123", True), (" ab-123 ", True), ("AB-12", False), ("xAB-123", False)],
)
def test_text_pattern(text: str, valid: bool) -> None:
    spec = AnswerSpec("text", pattern=r"[A-Z]{2}-\d{3}")
    if valid:
        assert parse(spec, text) == text.strip()
    else:
        assert (
            rejects(spec, text) == "That doesn't look like the expected format. Please try again."
        )


# --- time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", "07:00"),
        ("07", "07:00"),
        ("0", "00:00"),
        ("12", "12:00"),
        ("19", "19:00"),
        ("23", "23:00"),
        ("7am", "07:00"),
        ("7 am", "07:00"),
        ("7AM", "07:00"),
        ("7 a.m.", "07:00"),
        ("7pm", "19:00"),
        ("7 PM", "19:00"),
        ("7 p.m.", "19:00"),
        ("7p", "19:00"),
        ("7:30pm", "19:30"),
        ("7:30 pm", "19:30"),
        ("07:30", "07:30"),
        ("7:30", "07:30"),
        ("19:30", "19:30"),
        ("00:00", "00:00"),
        ("23:59", "23:59"),
        ("1930", "19:30"),
        ("0730", "07:30"),
        ("730", "07:30"),
        ("730pm", "19:30"),
        ("7.30", "07:30"),
        ("7.30pm", "19:30"),
        ("7h30", "07:30"),
        ("19h30", "19:30"),
        ("19h", "19:00"),
        ("12am", "00:00"),
        ("12pm", "12:00"),
        ("12:30am", "00:30"),
        ("noon", "12:00"),
        ("Noon!", "12:00"),
        ("midday", "12:00"),
        ("midnight", "00:00"),
        ("half past 7", "07:30"),
        ("half past seven", "07:30"),
        ("half past 7pm", "19:30"),
        ("quarter past 7", "07:15"),
        ("a quarter past 7", None),
        ("quarter to 8", "07:45"),
        ("quarter to 8pm", "19:45"),
        ("quarter to midnight", "23:45"),
        ("quarter to 1", "00:45"),
        ("10 past 9", "09:10"),
        ("ten past nine", "09:10"),
        ("twenty five to 8", "07:35"),
        ("7 minutes to 8", "07:53"),
        ("half 7", "07:30"),
        ("seven", "07:00"),
        ("seven pm", "19:00"),
        ("7 o'clock", "07:00"),
        ("7 o’clock", "07:00"),
        ("7ish", "07:00"),
        ("at 7", "07:00"),
        ("around 7:30", "07:30"),
        ("7 in the morning", "07:00"),
        ("7 in the evening", "19:00"),
        ("3 in the afternoon", "15:00"),
        ("7:30!", "07:30"),
    ],
)
def test_time(text: str, expected: str | None) -> None:
    if expected is None:
        rejects(TIME, text)
    else:
        assert parse(TIME, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "25:00",
        "24:00",
        "2400",
        "7:60",
        "7:5",
        "13pm",
        "0am",
        "13 in the morning",
        "99",
        "-7",
        "abc",
        "7 to 8",  # a range, not 07:53
        "quarter past 7:30",
        "60 past 7",
        "soon",
        "7:30:00",
        "",
    ],
)
def test_time_rejects(text: str) -> None:
    assert rejects(TIME, text) == "Please send a time like 07:30."


# --- date ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-12", "2026-03-12"),
        ("2026-3-5", "2026-03-05"),
        ("2026/03/12", "2026-03-12"),
        ("2025-12-31", "2025-12-31"),
        ("today", "2026-03-12"),
        ("Today!", "2026-03-12"),
        ("tomorrow", "2026-03-13"),
        ("tmrw", "2026-03-13"),
        ("yesterday", "2026-03-11"),
        ("day after tomorrow", "2026-03-14"),
        ("the day before yesterday", "2026-03-10"),
        ("monday", "2026-03-16"),
        ("Monday", "2026-03-16"),
        ("next monday", "2026-03-16"),
        ("on monday", "2026-03-16"),
        ("mon", "2026-03-16"),
        ("friday", "2026-03-13"),
        ("wednesday", "2026-03-18"),
        ("thursday", "2026-03-19"),  # today is Thursday: the next one
        ("next thursday", "2026-03-19"),
        ("this thursday", "2026-03-12"),
        ("this friday", "2026-03-13"),
        ("last thursday", "2026-03-05"),
        ("last monday", "2026-03-09"),
        ("12 March", "2026-03-12"),
        ("12 march", "2026-03-12"),
        ("12 Mar", "2026-03-12"),
        ("12 mar.", "2026-03-12"),
        ("March 12", "2026-03-12"),
        ("March 12th", "2026-03-12"),
        ("12th of March", "2026-03-12"),
        ("the 1st of April", "2026-04-01"),
        ("12 march 2026", "2026-03-12"),
        ("March 12, 2026", "2026-03-12"),
        ("12 March 2027", "2027-03-12"),
        ("Thursday, 12 March", "2026-03-12"),
        ("sept 3", "2026-09-03"),
        ("2 January", "2026-01-02"),
        ("12/03/2026", "2026-03-12"),  # day-first
        ("12.03.2026", "2026-03-12"),
        ("12-03-2026", "2026-03-12"),
        ("5/3/2026", "2026-03-05"),
        ("12/03/26", "2026-03-12"),
        ("12/03", "2026-03-12"),
        ("03/25/2026", "2026-03-25"),  # only month-first makes sense
        ("in 3 days", "2026-03-15"),
        ("in three days", "2026-03-15"),
        ("in 1 day", "2026-03-13"),
        ("in a week", "2026-03-19"),
        ("in 2 weeks", "2026-03-26"),
        ("3 days ago", "2026-03-09"),
        ("a week ago", "2026-03-05"),
        ("29 February 2028", "2028-02-29"),
    ],
)
def test_date(text: str, expected: str) -> None:
    assert parse(DATE, text) == expected


@pytest.mark.parametrize("text", ["tomorrow", "in 3 days", "monday", "in 99999999999 days"])
def test_date_beyond_the_calendar_is_invalid(text: str) -> None:
    with pytest.raises(InvalidAnswer):
        parse_answer(DATE, text, None, date.max)


@pytest.mark.parametrize(
    ("today", "text", "expected"),
    [
        (date(2026, 12, 30), "2 January", "2027-01-02"),
        (date(2026, 12, 30), "02/01", "2027-01-02"),
        (date(2027, 1, 2), "30 December", "2026-12-30"),
        (date(2026, 6, 1), "1 November", "2026-11-01"),
        (date(2026, 6, 1), "1 December", "2025-12-01"),  # 182 days ago, 183 ahead
        (date(2028, 3, 1), "29 February", "2028-02-29"),
        (date(2027, 12, 1), "29 February", "2028-02-29"),
    ],
)
def test_date_without_a_year_is_the_nearest(today: date, text: str, expected: str) -> None:
    assert parse_answer(DATE, text, None, today) == expected


@pytest.mark.parametrize(
    "text",
    [
        "31 February 2026",
        "29 February 2026",
        "29 February",  # no such date within a year of today
        "2026-02-30",
        "2026-13-01",
        "32/01/2026",
        "15/13/2026",
        "32 March",
        "March",
        "12",
        "next week",
        "someday",
        "in days",
        "in 3 days ago",
        "in -3 days",
        "in 1.5 days",
        "funday",
        "",
    ],
)
def test_date_rejects(text: str) -> None:
    assert rejects(DATE, text) == "Please send a date like 12 March or 2026-03-12."


# --- expected_format ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (MOOD, "one of: Poor, OK, Great, thanks!"),
        (AnswerSpec("number"), "a number"),
        (AnswerSpec("number", min=0), "a number of at least 0"),
        (AnswerSpec("number", max=5.5), "a number of at most 5.5"),
        (AnswerSpec("number", min=1, max=10), "a number from 1 to 10"),
        (AnswerSpec("number", min=1.0, max=10.0), "a number from 1 to 10"),
        (SCALE, "a whole number from 1 to 10"),
        (YES_NO, "yes or no"),
        (TEXT, "a text answer"),
        (TIME, "a time like 07:30"),
        (DATE, "a date like 12 March or 2026-03-12"),
    ],
)
def test_expected_format(spec: AnswerSpec, expected: str) -> None:
    assert expected_format(spec) == expected


# --- looks_like_question ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "What does that mean?",
        "what does that mean",
        "How do I do this",
        "how long should I walk?",
        "why do I need to",
        "When should I start",
        "Where do I log this",
        "Which one is better",
        "Who decides that",
        "What's a good time",
        "Can I do it tomorrow",
        "could you explain that",
        "Should I eat before?",
        "would it be ok to skip",
        "Is it ok to skip",
        "are you a real person",
        "Do I need to",
        "does it count if I walked",
        "did you get my last message",
        "will it hurt",
        "can't I do it later",
        "why?",
        "What?",
        "huh?",
        "really? 😅",
        "I don't understand?",
        "7 or 8?",
        "maybe 7?",
        "Is 7 ok?",
        "which one ❓",
        "¿Qué significa eso",
        "what do you mean?!",
        "  what is this  ",
    ],
)
def test_looks_like_question(text: str) -> None:
    assert looks_like_question(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "7?",
        "yes?",
        "Yes?",
        "great?",
        "tomorrow?",
        "7:30?",
        "?",
        "",
        "yes",
        "7",
        "what",
        "why not",
        "I walked 5 km",
        "did 20 pushups today",
        "will do tomorrow",
        "can do 10",
        "is fine by me",
        "do more stretching",
        "don't know yet",
        "didn't have time",
        "great thanks",
        "👍",
        "🤔?",
    ],
)
def test_does_not_look_like_a_question(text: str) -> None:
    assert looks_like_question(text) is False


# --- properties ---------------------------------------------------------------------------------

ALL_SPECS = [MOOD, PRETTY, MINUTES, CAFE, WEIGHT, ANY_NUMBER, SCALE, YES_NO, TEXT, TIME, DATE]


REPLY_ALPHABET = st.sampled_from(list("0123456789:.,/-+ #~!?apmhqurtefsolyindwk😀👍❓é"))


@settings(max_examples=500, deadline=None)
@given(
    spec=st.sampled_from(ALL_SPECS),
    text=st.text(max_size=60) | st.text(REPLY_ALPHABET, max_size=25),
    payload=st.none() | st.text(max_size=20),
    today=st.dates(),
)
def test_any_reply_is_an_answer_or_an_invalid_answer(
    spec: AnswerSpec, text: str, payload: str | None, today: date
) -> None:
    try:
        value = parse_answer(spec, text, payload, today)
    except InvalidAnswer as exc:
        message = str(exc)
        assert message
        assert message.endswith((".", "!", "?"))
    else:
        json.dumps(value)
        assert isinstance(value, str | int | float | bool)
    looks_like_question(text)


@settings(max_examples=200, deadline=None)
@given(st.integers(-(10**9), 10**9))
def test_every_integer_reads_back(number: int) -> None:
    assert parse(ANY_NUMBER, str(number)) == number


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False, allow_infinity=False)
)
def test_every_decimal_reads_back(number: object) -> None:
    text = f"{number:.2f}"
    assert parse(ANY_NUMBER, text) == pytest.approx(float(text))
    assert parse(ANY_NUMBER, text.replace(".", ",")) == pytest.approx(float(text))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 10))
def test_every_scale_point_reads_back(point: int) -> None:
    assert parse(SCALE, str(point)) == point
    assert parse(SCALE, f"{point}/10") == point


@settings(max_examples=300, deadline=None)
@given(hour=st.integers(0, 23), minute=st.integers(0, 59))
def test_every_clock_time_reads_back(hour: int, minute: int) -> None:
    assert parse(TIME, f"{hour:02d}:{minute:02d}") == f"{hour:02d}:{minute:02d}"
    assert parse(TIME, f"{hour:02d}{minute:02d}") == f"{hour:02d}:{minute:02d}"
    twelve = hour % 12 or 12
    suffix = "am" if hour < 12 else "pm"
    assert parse(TIME, f"{twelve}:{minute:02d}{suffix}") == f"{hour:02d}:{minute:02d}"


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_every_date_reads_back(day: date) -> None:
    assert parse(DATE, day.isoformat()) == day.isoformat()
    assert parse(DATE, f"{day.day}/{day.month}/{day.year}") == day.isoformat()
    assert parse(DATE, day.strftime("%d %B %Y")) == day.isoformat()
    assert parse(DATE, day.strftime("%B %d, %Y")) == day.isoformat()


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 6))
def test_weekdays_are_in_the_coming_week(today: date, weekday: int) -> None:
    name = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"][weekday]
    found = date.fromisoformat(str(parse_answer(DATE, name, None, today)))
    assert found.weekday() == weekday
    assert today < found <= today + timedelta(days=7)


def test_answer_types_are_all_handled() -> None:
    types: list[AnswerType] = ["choice", "number", "scale", "yes_no", "text", "time", "date"]
    for answer_type in types:
        spec = AnswerSpec(answer_type, choices=MOOD.choices, min=1, max=10)
        assert expected_format(spec)
