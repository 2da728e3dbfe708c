"""Finnish identifier rules of PROCESSES.md §0.4."""

import datetime

import pytest

from engine.identifiers import (
    birth_date_from_personal_id,
    is_valid_business_id,
    is_valid_personal_id,
    mask_personal_id,
    normalize_business_id,
)

VALID_PERSONAL_IDS = {
    # DVV test persons
    "010594Y9032": datetime.date(1994, 5, 1),
    "020594X903P": datetime.date(1994, 5, 2),
    "050594U903M": datetime.date(1994, 5, 5),
    "010516B903X": datetime.date(2016, 5, 1),
    "020504A902E": datetime.date(2004, 5, 2),
    # computed fictitious
    "150585-904T": datetime.date(1985, 5, 15),
    "230668-911L": datetime.date(1968, 6, 23),
    "120770-902J": datetime.date(1970, 7, 12),
    "280265-931F": datetime.date(1965, 2, 28),
    "141199-945X": datetime.date(1999, 11, 14),
    "190868-972L": datetime.date(1968, 8, 19),
}


@pytest.mark.parametrize("business_id", ["7654321-2", "2345678-0", "1234567-1", "2042869-6"])
def test_business_ids_with_a_correct_check_digit_are_valid(business_id):
    assert is_valid_business_id(business_id)


@pytest.mark.parametrize(
    "business_id",
    [
        "7654321-3",  # wrong check digit
        "2223334-0",  # weighted sum mod 11 is 1: no valid check digit exists
        "2223334-1",
        "1234567",  # no check digit
        "12345678-1",
        "1234567_1",
        "abcdefg-1",
        "",
    ],
)
def test_business_ids_that_break_the_rules_are_invalid(business_id):
    assert not is_valid_business_id(business_id)


def test_a_body_whose_remainder_is_zero_takes_check_digit_zero():
    # 2345678: 14+27+40+25+48+28+16 = 198 = 18 * 11
    assert is_valid_business_id("2345678-0")
    assert not is_valid_business_id("2345678-1")


def test_non_string_business_id_is_invalid_instead_of_raising():
    assert not is_valid_business_id(None)  # type: ignore[arg-type]
    assert not is_valid_business_id(7654321)  # type: ignore[arg-type]


def test_normalizing_a_business_id_strips_spaces_and_pads_a_legacy_six_digit_body():
    assert normalize_business_id(" 765 4321-2 ") == "7654321-2"
    assert normalize_business_id("123456-2") == "0123456-2"
    assert normalize_business_id("7654321-2") == "7654321-2"


def test_spaces_and_legacy_six_digit_bodies_are_accepted_after_normalization():
    assert is_valid_business_id(" 7654321 - 2")
    assert is_valid_business_id("123456-2")  # 0123456: sum 108, 108 % 11 = 9, check 2
    assert not is_valid_business_id("123456-3")


@pytest.mark.parametrize("personal_id", sorted(VALID_PERSONAL_IDS))
def test_spec_example_personal_ids_are_valid(personal_id):
    assert is_valid_personal_id(personal_id)


@pytest.mark.parametrize("personal_id,birth_date", sorted(VALID_PERSONAL_IDS.items()))
def test_birth_date_is_derived_from_date_part_and_century_sign(personal_id, birth_date):
    assert birth_date_from_personal_id(personal_id) == birth_date


@pytest.mark.parametrize(
    "personal_id",
    [
        "010594Y9033",  # spec example: wrong control character
        "010594G9032",  # G is no century sign
        "310294-9032",  # 31 February does not exist
        "290201A903N",  # 2001 is not a leap year
        "010594y9032",  # lower case century sign
        "010594Y903",  # too short
        " 010594Y9032",
        "٠١٠٥٩٤Y9032",  # non-ASCII digits
        "",
    ],
)
def test_malformed_or_wrong_personal_ids_are_invalid(personal_id):
    assert not is_valid_personal_id(personal_id)


def test_plus_sign_means_the_1800s():
    # Given a code with the same digits as a valid 1900s code
    # When the century sign is "+"
    # Then the birth year is in the 1800s and the control character is unchanged
    assert birth_date_from_personal_id("010594+9032") == datetime.date(1894, 5, 1)


def test_birth_date_of_an_invalid_personal_id_raises_value_error():
    with pytest.raises(ValueError):
        birth_date_from_personal_id("010594Y9033")
    with pytest.raises(ValueError):
        birth_date_from_personal_id("310294-9032")


def test_masking_keeps_only_the_date_part_of_a_personal_id():
    assert mask_personal_id("010594Y9032") == "010594*****"


def test_masking_something_that_is_not_a_personal_id_hides_everything():
    assert mask_personal_id("abc") == "***"
    assert mask_personal_id("") == ""
    assert mask_personal_id(None) == ""
