"""The cursor codec every list shares: round trips, and refuses what its list did not issue."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from cpip.pagination import MAX_CURSOR_CHARS, InvalidCursor, Key, decode_cursor, encode_cursor
from cpip.settings import Settings

SETTINGS = Settings(secret_key=SecretStr("k" * 40))
keys = st.lists(st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=40)),
                max_size=4)


@given(keys)
def test_a_cursor_resumes_after_the_key_it_was_made_for(key: list[Key]) -> None:
    cursor = encode_cursor("exchange.grants", key, SETTINGS)
    assert decode_cursor("exchange.grants", cursor, settings=SETTINGS) == tuple(key)


def test_no_cursor_is_the_first_page() -> None:
    assert decode_cursor("x", None, settings=SETTINGS) is None
    assert decode_cursor("x", "", settings=SETTINGS) is None


def test_a_cursor_of_another_list_is_refused_with_400() -> None:
    cursor = encode_cursor("exchange.records:101001/000001", (42,), SETTINGS)
    with pytest.raises(InvalidCursor) as caught:
        decode_cursor("exchange.records:101001/000002", cursor, settings=SETTINGS)
    assert caught.value.status == 400
    assert caught.value.extensions["errors"][0]["field"] == "after"


@pytest.mark.parametrize("edit", [
    lambda c: c[:-1] + ("A" if c[-1] != "A" else "B"),   # signature changed
    lambda c: ("e" if c[0] != "e" else "f") + c[1:],     # payload changed
    lambda c: c.split(".")[0],                           # signature dropped
    lambda c: "abc",                                     # made up
    lambda c: "!!!.???",                                 # not base64
    lambda c: "a" * (MAX_CURSOR_CHARS + 1),              # oversized
])
def test_an_edited_or_made_up_cursor_is_refused(edit) -> None:  # type: ignore[no-untyped-def]
    cursor = encode_cursor("audit.events", (2**40, "x"), SETTINGS)
    with pytest.raises(InvalidCursor):
        decode_cursor("audit.events", edit(cursor), field="cursor", settings=SETTINGS)


def test_cursors_made_before_a_key_rotation_still_resume() -> None:
    old = Settings(secret_key=SecretStr("o" * 40))
    rotated = Settings(secret_key=SecretStr("n" * 40), previous_secret_keys=[SecretStr("o" * 40)])
    cursor = encode_cursor("catalogue.entries", ("101001/000001",), old)
    assert decode_cursor("catalogue.entries", cursor, settings=rotated) == ("101001/000001",)
    with pytest.raises(InvalidCursor):
        decode_cursor("catalogue.entries", cursor, settings=Settings(secret_key=SecretStr("n" * 40)))
