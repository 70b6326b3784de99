"""The README stays true to the code it documents."""

from ml.docs import README, render_readme


def test_readme_contract_section_matches_the_contract():
    text = README.read_text()
    assert render_readme(text) == text, "run `make docs` and commit README.md"


def test_readme_gives_the_two_setup_commands():
    text = README.read_text()
    assert "make run" in text and "make test" in text


def test_dbt_sources_are_generated_from_the_contract():
    from ml.docs import SOURCES, render_sources

    assert SOURCES.read_text() == render_sources(), "run `make docs` and commit _sources.yml"


# Staging columns that keep a contract column's name but not its meaning.
STAGING_DERIVED = {("orders", "order_date")}  # the local calendar day of ordered_at


def test_staging_column_descriptions_agree_with_the_contract():
    import yaml

    from ml import contract
    from ml.settings import DBT_PROJECT_DIR

    models = yaml.safe_load(
        (DBT_PROJECT_DIR / "models" / "staging" / "_staging__models.yml").read_text()
    )["models"]
    checked, differ = 0, []
    for model in models:
        if not model["name"].startswith("stg_raw__"):
            continue
        entity = contract.entity(model["name"].removeprefix("stg_raw__"))
        meanings = {c.name: c.description for c in entity.columns}
        for column in model.get("columns", []):
            name = column["name"]
            if name in meanings and (entity.name, name) not in STAGING_DERIVED:
                checked += 1
                if column.get("description") != meanings[name]:
                    differ.append(f"{model['name']}.{name}")
    assert checked > 80 and differ == []
