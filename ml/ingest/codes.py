"""Code sets the rules check against: ISO 4217, ISO 3166-1 alpha-2 and the tariff extensions."""

from __future__ import annotations

from functools import cache

from ml import contract

# HS codes are stored without separators; these are the patterns after removing them.
HS_PATTERNS: dict[str, str] = {"hs_code": "[0-9]{6,10}", "hs_prefix": "[0-9]{2,10}"}
HS_WORDS: dict[str, str] = {
    "hs_code": "an HS code of 6-10 digits",
    "hs_prefix": "an HS code prefix of 2-10 digits",
}


@cache
def currency_codes() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.currencies)


@cache
def country_codes() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_2 for c in pycountry.countries)


def code_set(kind: str) -> frozenset[str]:
    """The accepted values of a coded column (every code kind but the HS ones)."""
    if kind == "iso_currency":
        return currency_codes()
    if kind == "iso_country":
        return country_codes()
    if kind == "tariff_destination":
        return country_codes() | frozenset(contract.CUSTOMS_UNIONS)
    if kind == "tariff_origin":
        return country_codes() | {contract.ALL_ORIGINS}
    raise KeyError(f"{kind!r} is not a code set")


def code_rule(kind: str) -> str:
    """The quarantine rule a bad code of this kind fails."""
    if kind == "iso_currency":
        return "invalid_currency"
    if kind in ("iso_country", "tariff_destination", "tariff_origin"):
        return "invalid_country"
    return "invalid_hs_code"


def code_words(kind: str) -> str:
    """What a valid value of this kind is, for reasons."""
    return {
        "iso_currency": "an ISO 4217 code",
        "iso_country": "an ISO 3166-1 alpha-2 code",
        "tariff_destination": "an ISO 3166-1 alpha-2 code or a customs union ("
        + ", ".join(sorted(contract.CUSTOMS_UNIONS))
        + ")",
        "tariff_origin": f"an ISO 3166-1 alpha-2 code or {contract.ALL_ORIGINS}",
        **HS_WORDS,
    }[kind]
