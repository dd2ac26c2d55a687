"""The HTML sanitiser loads nothing from outside the mail (F-BODY-2): no remote images, no CSS url()/expression()."""

from __future__ import annotations

import pytest

from engine.parse import parse
from engine.parse.mime.html import sanitize

PIXEL = '<p>Hi</p><img src="https://t.example/open.gif?u=1" width="1" height="1">'


@pytest.mark.parametrize("src", ["https://t.example/p.gif", "http://t.example/p.gif", "//t.example/p.gif",
                                 "images/p.gif", " HTTPS://t.example/p.gif"])
def test_remote_images_lose_their_source_by_default_F_BODY_2(src):
    assert "t.example" not in sanitize(f'<img src="{src}" alt="x">') and "p.gif" not in sanitize(f'<img src="{src}">')


def test_inline_images_stay_and_remote_ones_stay_when_opted_in_F_BODY_2():
    assert 'src="cid:logo@acme.test"' in sanitize('<img src="cid:logo@acme.test">')
    assert 'src="https://t.example/open.gif?u=1"' in sanitize(PIXEL, keep_remote_images=True)


@pytest.mark.parametrize("style", [
    "background-color: url(https://t.example/x)",
    "font-family: u\\72 l(https://t.example/x)",  # a CSS escape spells url(
    "width: expression(alert(1))",
    "width: e\\xpression(alert(1))",
    "width: ex/**/pression(alert(1))",
    "background-color: image-set('https://t.example/x' 1x)",
])
def test_style_values_that_call_out_are_dropped_F_BODY_2(style):
    cleaned = sanitize(f'<p style="color: red; {style}">x</p>')
    assert 'style="color:red"' in cleaned and "t.example" not in cleaned and "alert" not in cleaned


def test_colours_and_arithmetic_stay():
    cleaned = sanitize('<p style="color: rgb(1, 2, 3); width: calc(100% - 2px)">x</p>')
    assert "rgb(1, 2, 3)" in cleaned and "calc(" in cleaned


def test_parse_passes_the_mailbox_choice_to_the_sanitiser_F_BODY_2():
    raw = b"From: a@example.com\r\nContent-Type: text/html\r\n\r\n" + PIXEL.encode()
    assert "t.example" not in parse(raw).html
    assert "t.example" in parse(raw, keep_remote_images=True).html
