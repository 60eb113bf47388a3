"""`GET /widget.js`: served gzipped to browsers that accept it, cached briefly with an ETag, and
the size the README and docs/widget.md state is the size it has."""

from __future__ import annotations

import gzip
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from bots.web.routes import SCRIPT_MAX_AGE, accepts_gzip, load_script
from tests.web.conftest import AppClient

ROOT = Path(__file__).resolve().parents[2]


async def fetch(client: AppClient, **headers: str) -> tuple[int, Mapping[str, str], bytes]:
    response = await client.get("/widget.js", headers=headers, auto_decompress=False)
    return response.status, response.headers, await response.read()  # (case-insensitive)


async def test_browsers_get_the_script_gzipped_and_others_as_it_is(client: AppClient) -> None:
    script = load_script()
    status, headers, body = await fetch(client, **{"Accept-Encoding": "gzip, deflate, br"})
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == script
    assert len(body) < len(script) / 2
    assert headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert headers["Cache-Control"] == f"public, max-age={SCRIPT_MAX_AGE}"
    assert headers["Vary"] == "Accept-Encoding"
    assert headers["X-Content-Type-Options"] == "nosniff"

    for plain in ("identity", "gzip;q=0, deflate"):
        status, headers, body = await fetch(client, **{"Accept-Encoding": plain})
        assert (status, body) == (200, script)
        assert "Content-Encoding" not in headers
        assert headers["Vary"] == "Accept-Encoding"


async def test_an_unchanged_script_is_not_sent_again(client: AppClient) -> None:
    for encoding in ("gzip", "identity"):
        _, first, _ = await fetch(client, **{"Accept-Encoding": encoding})
        status, again, body = await fetch(
            client, **{"Accept-Encoding": encoding, "If-None-Match": first["ETag"]}
        )
        assert (status, body, again["ETag"]) == (304, b"", first["ETag"])
        status, _, _ = await fetch(client, **{"Accept-Encoding": encoding, "If-None-Match": '"x"'})
        assert status == 200
    _, zipped, _ = await fetch(client, **{"Accept-Encoding": "gzip"})
    _, plain, _ = await fetch(client, **{"Accept-Encoding": "identity"})
    assert zipped["ETag"] != plain["ETag"]  # two representations, two validators


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("", False),
        ("identity", False),
        ("br, deflate", False),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("*;q=0", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


@pytest.mark.parametrize(
    ("doc", "pattern"),
    [
        ("README.md", r"(\d+) KB, \*\*([\d.]+) KB gzipped\*\*"),
        ("docs/widget.md", r"(\d+) KB \(([\d.]+) KB gzipped\)"),
    ],
)
def test_the_stated_size_is_true(doc: str, pattern: str) -> None:
    found = re.search(pattern, (ROOT / doc).read_text())
    assert found, f"{doc} does not state the widget's size"
    script = load_script()
    size, zipped = len(script) / 1000, len(gzip.compress(script, compresslevel=9, mtime=0)) / 1000
    assert abs(float(found[1]) - size) <= 1, f"widget.js is {size:.1f} KB"
    assert abs(float(found[2]) - zipped) <= 0.1, f"widget.js is {zipped:.2f} KB gzipped"
