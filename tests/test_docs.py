"""The README stays true to the code it documents."""

from ml.docs import README, render_readme


def test_readme_contract_section_matches_the_contract():
    text = README.read_text()
    assert render_readme(text) == text, "run `make docs` and commit README.md"


def test_readme_gives_the_two_setup_commands():
    text = README.read_text()
    assert "make run" in text and "make test" in text
