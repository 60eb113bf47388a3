"""The Markdown subset: parser, neutral renderers, canonical source and the splitter."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.markup import (
    Block,
    Bold,
    Code,
    Inline,
    Italic,
    LineBreak,
    Link,
    ListBlock,
    Paragraph,
    Text,
    parse,
    to_ansi,
    to_html,
    to_markdown,
    to_plain,
)
from engine.markup_split import split_markdown


def para(*children: Inline) -> tuple[Block, ...]:
    return (Paragraph(children),)


T = Text
B = "\x1b[1m"
I = "\x1b[3m"  # noqa: E741
C = "\x1b[36m"
R = "\x1b[0m"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("", ()),
        (" \n\n \t\n", ()),
        ("hello", para(T("hello"))),
        ("**bold**", para(Bold((T("bold"),)))),
        ("*italic* and _italic_", para(Italic((T("italic"),)), T(" and "), Italic((T("italic"),)))),
        ("snake_case_words and __init__", para(T("snake_case_words and __init__"))),
        ("a_b_ c", para(T("a_b_ c"))),
        ("(_yes_)", para(T("("), Italic((T("yes"),)), T(")"))),
        ("**unclosed bold", para(T("**unclosed bold"))),
        ("*unclosed italic", para(T("*unclosed italic"))),
        ("2 * 3 * 4", para(T("2 * 3 * 4"))),
        ("**not bold **", para(T("**not bold **"))),
        (r"\*not italic\* \_ \\ \` \[x\]", para(T(r"*not italic* _ \ ` [x]"))),
        (r"a \b \n", para(T(r"a \b \n"))),
        ("`code *not* [x](https://a.b)`", para(Code("code *not* [x](https://a.b)"))),
        ("`unclosed code", para(T("`unclosed code"))),
        ("``a ` b``", para(Code("a ` b"))),
        ("`` `x` ``", para(Code("`x`"))),
        (r"`a\`b", para(Code("a\\"), T("b"))),
        (
            "[site](https://example.com/a_(b))",
            para(Link((T("site"),), "https://example.com/a_(b)")),
        ),
        (
            "[mail](mailto:a@b.c) [call](tel:+123)",
            para(Link((T("mail"),), "mailto:a@b.c"), T(" "), Link((T("call"),), "tel:+123")),
        ),
        ("[**b**](http://x.y)", para(Link((Bold((T("b"),)),), "http://x.y"))),
        ("[](http://x.y)", para(Link((T("http://x.y"),), "http://x.y"))),
        ("[x](javascript:alert(1))", para(T("[x](javascript:alert(1))"))),
        ("[x](JavaScript:alert(1))", para(T("[x](JavaScript:alert(1))"))),
        ("[x](data:text/html,hi)", para(T("[x](data:text/html,hi)"))),
        ("[x](/relative)", para(T("[x](/relative)"))),
        ("[x](https://a b)", para(T("[x](https://a b)"))),
        ("[*a*](javascript:x)", para(T("["), Italic((T("a"),)), T("](javascript:x)"))),
        ("<b>not html</b>", para(T("<b>not html</b>"))),
        ("***both***", para(Bold((Italic((T("both"),)),)))),
        ("**a *b* c**", para(Bold((T("a "), Italic((T("b"),)), T(" c"))))),
        ("*a **b** c*", para(Italic((T("a "), Bold((T("b"),)), T(" c"))))),
        ("*a *b* c*", para(Italic((T("a b c"),)))),
        ("*a**b**c*", para(Italic((T("a"), Bold((T("b"),)), T("c"))))),
        ("*a**b*", para(Italic((T("a**b"),)))),
        ("a\nb", para(T("a"), LineBreak(), T("b"))),
        (
            "a\r\nb\r\n\r\nc\rd",
            (*para(T("a"), LineBreak(), T("b")), *para(T("c"), LineBreak(), T("d"))),
        ),
        ("**a\nb**", para(Bold((T("a"), LineBreak(), T("b"))))),
        ("one\n\n\n\ntwo", (Paragraph((T("one"),)), Paragraph((T("two"),)))),
        ("- a\n* **b**", (ListBlock(False, ((T("a"),), (Bold((T("b"),)),))),)),
        ("1. a\n2) *b*", (ListBlock(True, ((T("a"),), (Italic((T("b"),)),))),)),
        ("3. c\n9. d", (ListBlock(True, ((T("c"),), (T("d"),)), 3),)),
        (
            "- a\n  more\nafter",
            (ListBlock(False, ((T("a"), LineBreak(), T("more")),)), Paragraph((T("after"),))),
        ),
        (
            "intro\n- a\n1. b",
            (
                Paragraph((T("intro"),)),
                ListBlock(False, ((T("a"),),)),
                ListBlock(True, ((T("b"),),)),
            ),
        ),
        ("-not a list\n1.5 either", para(T("-not a list"), LineBreak(), T("1.5 either"))),
        (r"\- escaped", para(T("- escaped"))),
        (r"1\. escaped", para(T("1. escaped"))),
        ("**bold** line", para(Bold((T("bold"),)), T(" line"))),
    ],
)
def test_parse(source: str, expected: tuple[Block, ...]) -> None:
    assert parse(source) == expected


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("a **b** *c* `d`", "<p>a <strong>b</strong> <em>c</em> <code>d</code></p>"),
        ("x\ny\n\nz", "<p>x<br>y</p>\n<p>z</p>"),
        ("- a\n- b", "<ul><li>a</li><li>b</li></ul>"),
        ("2. a\n3. b", '<ol start="2"><li>a</li><li>b</li></ol>'),
        ("1. a", "<ol><li>a</li></ol>"),
        (
            '[l](https://e.com/?a=1&b="2")',
            '<p><a href="https://e.com/?a=1&amp;b=&quot;2&quot;" rel="noopener noreferrer"'
            ' target="_blank">l</a></p>',
        ),
        ("<script>alert('x')</script>", "<p>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;</p>"),
        (
            "[<script>](https://e.com/<script>)",
            '<p><a href="https://e.com/&lt;script&gt;" rel="noopener noreferrer" target="_blank">'
            "&lt;script&gt;</a></p>",
        ),
        ("`<i>`", "<p><code>&lt;i&gt;</code></p>"),
        (
            "- **a** [b](tel:1)\n- `c`",
            '<ul><li><strong>a</strong> <a href="tel:1" rel="noopener noreferrer" target="_blank">'
            "b</a></li><li><code>c</code></li></ul>",
        ),
        ("[x](javascript:alert(1))", "<p>[x](javascript:alert(1))</p>"),
    ],
)
def test_to_html(source: str, html: str) -> None:
    assert to_html(source) == html


def test_to_html_never_links_an_unsafe_url_in_a_hand_built_tree() -> None:
    blocks = para(Link((T("x"),), 'javascript:alert("1")'))
    assert to_html(blocks) == "<p>x (javascript:alert(&quot;1&quot;))</p>"


@pytest.mark.parametrize(
    ("source", "plain"),
    [
        ("a **b** *c* `d`", "a b c d"),
        ("[label](https://e.com)", "label (https://e.com)"),
        ("[https://e.com](https://e.com)", "https://e.com"),
        ("- a\n- b\n  c", "• a\n• b\n  c"),
        ("4. a\n5. b", "4. a\n5. b"),
        ("p1\nline\n\np2", "p1\nline\n\np2"),
        ("<b>&amp;</b>", "<b>&amp;</b>"),
        (r"\*x\*", "*x*"),
    ],
)
def test_to_plain(source: str, plain: str) -> None:
    assert to_plain(source) == plain


@pytest.mark.parametrize(
    ("source", "ansi"),
    [
        ("**b** *i* `c`", f"{B}b{R} {I}i{R} {C}c{R}"),
        ("**a *b* c**", f"{B}a {I}b{R}{B} c{R}"),
        ("[l](https://e.com)", "l (https://e.com)"),
        ("evil \x1b[2J\x07", "evil \ufffd[2J\ufffd"),
        ("- a", "• a"),
    ],
)
def test_to_ansi(source: str, ansi: str) -> None:
    assert to_ansi(source) == ansi


def test_renderers_accept_blocks() -> None:
    blocks = parse("**hi**")
    assert (to_plain(blocks), to_html(blocks)) == ("hi", "<p><strong>hi</strong></p>")


@pytest.mark.parametrize(
    "source",
    [
        "a **b** *c* _d_ `e` [f](https://g.h) snake_case",
        "- **a**\n- b\n  c\n\n7. x\n8. y",
        r"\- not a list \* \_x\_ \\ \[",
        "a\n- b",
        "``a`b`` and `` `x` `` and ` ` ",
        "*a**b**c*  ***x****y*  **a*b*c**",
        "1\\. one\n\\- dash\n\\* star",
    ],
)
def test_to_markdown_round_trips(source: str) -> None:
    assert parse(to_markdown(parse(source))) == parse(source)


def test_to_markdown_writes_italics_with_underscores_where_unambiguous() -> None:
    assert to_markdown(parse("**a** *b* x*y*z")) == "**a** _b_ x*y*z"


def test_to_markdown_drops_emphasis_it_cannot_express() -> None:
    blocks = parse("**a******a***a*a")  # bold, then italic holding a bold, glued in one word
    assert blocks == para(Bold((T("a"),)), Italic((Bold((T("a"),)), T("a"))), T("a"))
    assert to_markdown(blocks) == "aaaa"


# --- splitting --------------------------------------------------------------------------------

LONG = (
    "First paragraph is here. It has **two sentences that are fairly long**.\n\n"
    "Second one with a [link](https://example.com/some/path) and `a code span` here. More! Yes?"
    "\n\n1. one\n2. two is a much longer item that goes on and on\n3. three"
)


def test_split_short_text_is_returned_as_is() -> None:
    assert split_markdown(" \n**hi** there\r\n", 100) == ["**hi** there"]
    assert split_markdown("\u2028- a", 100) == ["\u2028- a"]  # stripping would make a list


@pytest.mark.parametrize("text", ["", "  \n\n "])
def test_split_empty_text_gives_no_pieces(text: str) -> None:
    assert split_markdown(text, 10) == []


@pytest.mark.parametrize("limit", [0, -5])
def test_split_rejects_a_limit_below_one(limit: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split_markdown("hello", limit)


def test_split_raises_when_no_progress_is_possible() -> None:
    with pytest.raises(ValueError, match="too small"):
        split_markdown("- abc def", 2)


def test_split_prefers_blocks_then_sentences_then_words() -> None:
    assert split_markdown(LONG, 60) == [
        "First paragraph is here.",
        "It has **two sentences that are fairly long**.",
        "Second one with a [link](https://example.com/some/path) and",
        "`a code span` here. More! Yes?\n\n1. one",
        "2. two is a much longer item that goes on and on\n3. three",
    ]


def test_split_keeps_blocks_together_when_they_fit() -> None:
    assert split_markdown("one\n\ntwo\n\nthree", 10) == ["one\n\ntwo", "three"]


def test_split_at_line_breaks_before_sentences() -> None:
    assert split_markdown("a b. c\nd e", 8) == ["a b. c", "d e"]


def test_split_closes_and_reopens_spans() -> None:
    assert split_markdown("**bold words here** *and italic words*", 14) == [
        "**bold words**",
        "**here** _and_",  # italics are written with `_` where that is unambiguous
        "_italic words_",
    ]


def test_split_never_cuts_a_link_or_code_span_that_fits() -> None:
    text = "aa [a link label](https://e.com/x) `co de`"
    assert split_markdown(text, 31) == ["aa", "[a link label](https://e.com/x)", "`co de`"]


def test_split_cuts_an_oversize_code_span_as_plain_text() -> None:
    assert split_markdown("`" + "c" * 25 + "`", 10) == ["c" * 10, "c" * 10, "c" * 5]


def test_split_cuts_an_oversize_link_as_plain_text() -> None:
    pieces = split_markdown("[label](https://example.com/a/long/path)", 20)
    assert pieces == ["label", "(https://example.com", "/a/long/path)"]


def test_split_hard_cuts_a_long_word() -> None:
    assert split_markdown("x" * 25 + " y", 10) == ["x" * 10, "x" * 10, "xxxxx y"]


def test_split_lists_keep_numbering_and_continue_items_as_paragraphs() -> None:
    pieces = split_markdown("3. aaa bbb\n4. ccc ddd eee fff\n5. g", 12)
    assert pieces == ["3. aaa bbb", "4. ccc ddd", "eee fff", "5. g"]
    words = ["3.", "aaa", "bbb", "4.", "ccc", "ddd", "eee", "fff", "5.", "g"]
    assert to_plain("\n\n".join(pieces)).split() == words


def test_split_escapes_what_would_change_meaning() -> None:
    assert split_markdown(r"word \- dash and \*star\*", 12) == ["word - dash", r"and \*star\*"]
    assert split_markdown("Done. - no list", 12) == ["Done.", r"\- no list"]
    assert split_markdown("Ok. 2) no", 7) == ["Ok.", r"2\) no"]


def test_split_measures_the_rendered_piece() -> None:
    pieces = split_markdown("**aa bb cc**", 30, render=to_html)
    assert pieces == ["**aa bb**", "**cc**"]
    assert all(len(to_html(p)) <= 30 for p in pieces)


def test_split_with_a_custom_measure() -> None:
    pieces = split_markdown("ab cd ef gh", 2, measure=lambda s: len(s.split()))
    assert pieces == ["ab cd", "ef gh"]


# --- properties -------------------------------------------------------------------------------

_TOKENS = [
    *"ab Z9é.!?,()[]*_`\\-<>&\"'/:\t\n",
    "**",
    "***",
    "\n\n",
    "\r\n",
    "- ",
    "* ",
    "1. ",
    "2) ",
    "  ",
    "http://",
    "https://e.com/p",
    "javascript:",
    "mailto:a@b",
    "](",
    "<script>",
    "<a href=x>",
    "snake_case",
    "\x1b",
    "\u2028",
]
markdownish = st.one_of(
    st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join),
    st.text(max_size=80),
)
_ALLOWED_TAGS = {"p", "br", "ul", "ol", "li", "strong", "em", "code", "a"}
_OUR_TAG = re.compile(r"</?(?:p|br|ul|ol|li|strong|em|code|a)[ >]")


class _TagCheck(HTMLParser):
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in _ALLOWED_TAGS, tag
        allowed = {"a": {"href", "rel", "target"}, "ol": {"start"}}.get(tag, set())
        for name, value in attrs:  # `start` (numbering from 3 on, say) goes beyond the brief
            assert name in allowed, (tag, name)
            assert value is not None
            if name == "start":
                assert value.isdigit(), value
            if name == "href":
                assert re.match(r"(https?://|mailto:|tel:)", value, re.IGNORECASE), value

    def handle_endtag(self, tag: str) -> None:
        assert tag in _ALLOWED_TAGS, tag


@settings(max_examples=200, deadline=None)
@given(markdownish)
def test_html_has_only_our_own_tags(text: str) -> None:
    out = to_html(text)
    assert all(_OUR_TAG.match(out, m.start()) for m in re.finditer("<", out)), out
    checker = _TagCheck()
    checker.feed(out)
    checker.close()


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@settings(max_examples=200, deadline=None)
@given(markdownish, st.integers(min_value=20, max_value=400))
def test_split_pieces_fit_and_keep_the_text(text: str, limit: int) -> None:
    pieces = split_markdown(text, limit)
    assert all(piece.strip() and len(piece) <= limit for piece in pieces)
    assert _squash(to_plain("\n\n".join(pieces))) == _squash(to_plain(text))


@settings(max_examples=200, deadline=None)
@given(markdownish, st.integers(min_value=60, max_value=400))
def test_split_pieces_fit_rendered_html(text: str, limit: int) -> None:
    pieces = split_markdown(text, limit, render=to_html)
    assert all(len(to_html(piece)) <= limit for piece in pieces)
    assert _squash(to_plain("\n\n".join(pieces))) == _squash(to_plain(text))


@settings(max_examples=200, deadline=None)
@given(markdownish)
def test_parse_never_raises_and_round_trips(text: str) -> None:
    blocks = parse(text)
    again = parse(to_markdown(blocks))  # exact, but for emphasis glued inexpressibly in a word
    assert again == blocks or to_plain(again) == to_plain(blocks)
    to_plain(blocks), to_ansi(blocks), to_html(blocks)
