"""Spelling repair never touches a word the domain knows, and fixes typos."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mendb.repair.text import SpellCorrector, Vocabulary

DOMAIN = (  # noqa: SIM905
    "the coffee was bold and smooth with a hint of chocolate the tea tasted stale "
    "and bitter my dog loves these crunchy treats Keurig pods arrived quickly gluten "
    "free crackers zesty salsa yummy snack"
).split()
VOCABULARY = Vocabulary.from_texts([" ".join(DOMAIN)] * 2)
CORRECTOR = SpellCorrector(VOCABULARY)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(DOMAIN),
            st.sampled_from([" ", "  ", ", ", ". ", "! ", "<br />", " 12 ", "-"]),
            st.sampled_from(["lower", "upper", "title"]),
        ),
        max_size=30,
    )
)
def test_a_clean_row_is_never_changed(parts: list[tuple[str, str, str]]) -> None:
    text = "".join(getattr(word, case)() + sep for word, sep, case in parts)
    corrected, diff = CORRECTOR.correct(text)
    assert corrected == text and diff == []


def test_typos_are_corrected_with_a_word_level_diff() -> None:
    text = "The cofee was bold and smoth, with a hint of chocolat. Keurig rocks"
    corrected, diff = CORRECTOR.correct(text)
    assert corrected == "The coffee was bold and smooth, with a hint of chocolate. Keurig rocks"
    assert [(d["old"], d["new"]) for d in diff] == [
        ("cofee", "coffee"),
        ("smoth", "smooth"),
        ("chocolat", "chocolate"),
    ]


def test_oov_share_counts_words_neither_vocabulary_knows() -> None:
    share, unknown = VOCABULARY.oov_share("the cofee was smoth and bold")
    assert unknown == ["cofee", "smoth"] and share == 2 / 6
