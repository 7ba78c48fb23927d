"""The import's quick e-mail check answers exactly as the API's `Email` type does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from registrar.oneroster.diagnostics import RowError
from registrar.oneroster.records import student_email
from registrar.schemas import Email

EMAIL: TypeAdapter[str] = TypeAdapter(Email)

# The addresses the API's tests use, and the edges of the quick check: lengths, labels, `--`,
# special-use names, characters outside its set, case.
CASES = [
    "  Ada.Lovelace@Example.EDU ",
    "  Ada@example.edu  ",
    " ADA@B\u00dcCHER.EXAMPLE ",
    " ADA@Example.Edu ",
    " Countess@Example.EDU ",
    "@example.edu",
    "ADA@Example.EDU",
    "Ada@B\u00fccher.example",
    "ada.lovelace@example.edu",
    "ada@",
    "ada@example..edu",
    "ada@xn--bcher-kva.example",
    "jos\u00e9@example.com",
    "jose\u0301@Example.com",
    "two@@example.edu",
    "not-an-address",
    "user0@school.example",
    "A+B_c-d@Mail.Sub-Domain.Example",
    "Postmaster@X.com",
    "a@b.c",
    "a@b.c1",
    "a@b.1c",
    "a@1.com",
    "a@b.com.",
    "a@.b.com",
    "a@-b.com",
    "a@b-.com",
    "a@ab--cd.com",
    "a@a--b.com",
    "a@b.xn--p1ai",
    ".a@b.com",
    "a.@b.com",
    "a..b@b.com",
    "a@host.local",
    "a@x.localhost",
    "a@x.invalid",
    "a@x.onion",
    "a@x.arpa",
    "a@x.test",
    "a@x.TEST",
    "a@x.LOCAL",
    "a@localhost",
    "a b@x.com",
    "a\t@x.com",
    '"a"@x.com',
    "a@[127.0.0.1]",
    "Ada <a@x.com>",
    "a~!#$%&'*/=?^`{|}@x.com",
    "x" * 64 + "@x.com",
    "x" * 65 + "@x.com",
    "x" * 200 + "@" + "y" * 49 + ".com",
    "x" * 200 + "@" + "y" * 50 + ".com",
    "a@" + "y" * 63 + ".com",
    "a@" + "y" * 64 + ".com",
    "a@x." + "c" * 63,
    "a@x." + "c" * 64,
    "a@" + ".".join(["y" * 63] * 4) + ".com",
]


def api_answer(value: str) -> str | None:
    """What `Email` stores for VALUE (as the import reads it: stripped), or None if it refuses it."""
    try:
        return EMAIL.validate_python(value.strip())
    except ValidationError:
        return None


def import_answer(value: str) -> str | None:
    try:
        return student_email(value.strip())
    except RowError as problem:
        return None if problem.code in ("invalid-email", "missing-email") else problem.code


@pytest.mark.parametrize("value", CASES)
def test_the_import_accepts_and_stores_an_address_as_the_api_does(value: str) -> None:
    assert import_answer(value) == api_answer(value)


ATOMS = st.text(alphabet="aZ09_+-.~!", min_size=0, max_size=70)
LABELS = st.lists(st.text(alphabet="aZ09-x", min_size=0, max_size=66), min_size=1, max_size=5)
TLDS = st.sampled_from(["com", "EDU", "c", "c1", "local", "test", "arpa", "x-y", "xn--p1ai", "co--m", ""])


@hypothesis_settings(max_examples=3000, deadline=None)
@given(ATOMS, LABELS, TLDS)
def test_generated_addresses_get_the_same_answer(local: str, labels: list[str], tld: str) -> None:
    value = f"{local}@{'.'.join([*labels, tld])}"
    assert import_answer(value) == api_answer(value)
