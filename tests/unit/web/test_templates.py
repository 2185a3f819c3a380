"""The console's templates keep to the Content-Security-Policy and escape everything."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from charter.web.charts import Bar, bar_chart, day_columns, stacked_bar
from charter.web.templating import ENV, TEMPLATES

TEMPLATE_FILES = sorted(TEMPLATES.glob("*.html"))


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_no_inline_script_style_or_handlers(path: Path) -> None:
    """``script-src 'self'`` and ``style-src 'self'`` would block them anyway: keep them out."""
    text = path.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", text), "inline <script>"
    assert not re.search(r"\sstyle=", text), "inline style attribute"
    assert not re.search(r"\son[a-z]+=", text), "inline event handler"
    assert "|safe" not in text, "user data must never be marked safe"
    assert "javascript:" not in text


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_every_post_form_carries_a_csrf_token(path: Path) -> None:
    text = path.read_text()
    for form in re.findall(r"<form[^>]*method=\"post\".*?</form>", text, re.S):
        if 'action="/login"' in form:
            assert 'name="csrf_token" value="{{ login_csrf }}"' in form
        else:
            assert "csrf_field(csrf)" in form or 'value="{{ csrf }}"' in form, form[:120]


def test_autoescape_is_on() -> None:
    rendered = ENV.from_string("{{ value }}").render(value="<script>x</script>")
    assert rendered == "&lt;script&gt;x&lt;/script&gt;"


def test_charts_escape_their_labels() -> None:
    evil = '<script>alert(1)</script>"'
    for markup in (
        bar_chart([Bar(evil, 3, href='/x?"><script>')], label=evil),
        stacked_bar([Bar(evil, 2)], label=evil),
    ):
        assert "<script>" not in markup and "&lt;script&gt;" in markup
        assert '"><script>' not in markup
    import datetime as dt

    columns = day_columns([(dt.date(2026, 1, 1), 2)], label=evil)
    assert "<script>" not in columns and 'aria-label="&lt;script&gt;' in columns
