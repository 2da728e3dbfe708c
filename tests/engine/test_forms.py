"""Form definitions, Camunda 7 conversion and validation of submitted task data."""

import json

import pytest

from engine.forms import (
    FieldError,
    FormDefinition,
    check_schema,
    form_from_camunda_fields,
    validate_form_data,
)


def camunda_field(field_id, field_type="string", *rules, label=None, default=None, values=None):
    """A Camunda formField as the BPMN parser hands it over; rules are (name, config) pairs."""
    return {
        "id": field_id,
        "label": label,
        "type": field_type,
        "default": default,
        "values": values or [],
        "validation": [{"name": name, "config": config} for name, config in rules],
        "properties": {},
    }


def fields_of(errors):
    return [e.field for e in errors]


def only_error(errors):
    assert len(errors) == 1, errors
    return errors[0]


# --- FormDefinition and check_schema ---------------------------------------------------------


def test_form_definition_to_dict_has_schema_ui_schema_and_source():
    form = FormDefinition({"type": "object"}, {"ui:order": ["a"]}, source="camunda")
    assert form.to_dict() == {
        "schema": {"type": "object"},
        "ui_schema": {"ui:order": ["a"]},
        "source": "camunda",
    }
    default = FormDefinition({}).to_dict()
    assert default == {"schema": {}, "ui_schema": None, "source": "json-schema"}


def test_check_schema_accepts_a_valid_form_with_unknown_format_names():
    schema = {
        "type": "object",
        "properties": {"x": {"type": "string", "format": "my-own-format"}},
        "required": ["x"],
    }
    assert check_schema(schema) == []


def test_check_schema_rejects_a_type_that_is_not_a_type_name():
    problems = check_schema({"type": 12})
    assert len(problems) >= 1
    assert problems[0].startswith("type:")


def test_check_schema_rejects_a_broken_nested_schema_and_an_invalid_regex():
    problems = check_schema(
        {"properties": {"a": {"minLength": -1}, "b": {"type": "string", "pattern": "("}}}
    )
    assert any(p.startswith("properties/a/minLength") for p in problems)
    assert any(p.startswith("properties/b/pattern") for p in problems)


@pytest.mark.parametrize("schema", [[], "object", None, 12])
def test_check_schema_rejects_a_schema_that_is_not_an_object(schema):
    assert check_schema(schema) == ["form schema must be a JSON object"]


# --- Camunda conversion ------------------------------------------------------------------------


def test_camunda_types_map_to_json_schema_types():
    form = form_from_camunda_fields(
        [
            camunda_field("name", "string"),
            camunda_field("age", "long"),
            camunda_field("agreed", "boolean"),
            camunda_field("start", "date"),
            camunda_field("blob", "customType"),
        ]
    )
    props = form.schema["properties"]
    assert form.source == "camunda"
    assert form.schema["type"] == "object"
    assert form.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert props["name"]["type"] == "string"
    assert props["age"]["type"] == "integer"
    assert props["agreed"]["type"] == "boolean"
    assert props["start"] == {"type": "string", "format": "date"}
    assert "type" not in props["blob"]
    assert check_schema(form.schema) == []


def test_a_field_of_unknown_type_accepts_any_value():
    form = form_from_camunda_fields([camunda_field("blob", "customType")])
    assert validate_form_data(form, {"blob": {"any": [1, "thing"]}}) == []
    assert validate_form_data(form, {"blob": 5}) == []


def test_camunda_enum_becomes_an_enum_of_ids_with_labels():
    values = [{"id": "phone", "name": "Puhelin"}, {"id": "visit", "name": "Käynti"}]
    form = form_from_camunda_fields([camunda_field("channel", "enum", values=values)])
    prop = form.schema["properties"]["channel"]
    assert prop["enum"] == ["phone", "visit"]
    assert prop["x-labels"] == {"phone": "Puhelin", "visit": "Käynti"}
    assert validate_form_data(form, {"channel": "visit"}) == []
    error = only_error(validate_form_data(form, {"channel": "fax"}))
    assert error == FieldError("channel", "must be one of: phone, visit")


def test_camunda_label_becomes_title_and_field_order_becomes_ui_order():
    form = form_from_camunda_fields(
        [camunda_field("b", label="Bee"), camunda_field("a", label="Aa"), camunda_field("c")]
    )
    assert form.schema["properties"]["b"]["title"] == "Bee"
    assert "title" not in form.schema["properties"]["c"]
    assert form.ui_schema == {"ui:order": ["b", "a", "c"]}


@pytest.mark.parametrize(
    "field_type,default,expected",
    [
        ("long", "40", 40),
        ("boolean", "true", True),
        ("boolean", "FALSE", False),
        ("string", "x", "x"),
        ("date", "31/12/2025", "2025-12-31"),
        ("date", "2025-12-31", "2025-12-31"),
        ("long", "${hours}", "${hours}"),  # an expression stays as written
    ],
)
def test_camunda_default_is_converted_to_the_field_type_when_possible(
    field_type, default, expected
):
    form = form_from_camunda_fields([camunda_field("f", field_type, default=default)])
    assert form.schema["properties"]["f"]["default"] == expected


def test_camunda_required_fields_are_listed_in_order():
    form = form_from_camunda_fields(
        [
            camunda_field("b", "string", ("required", None)),
            camunda_field("x"),
            camunda_field("a", "long", ("required", None)),
        ]
    )
    assert form.schema["required"] == ["b", "a"]
    assert fields_of(validate_form_data(form, {})) == ["a", "b"]
    assert all(e.message == "is required" for e in validate_form_data(form, {}))


def test_camunda_length_constraints_become_min_and_max_length():
    form = form_from_camunda_fields(
        [camunda_field("title", "string", ("minlength", "3"), ("maxlength", "40"))]
    )
    prop = form.schema["properties"]["title"]
    assert (prop["minLength"], prop["maxLength"]) == (3, 40)
    assert validate_form_data(form, {"title": "abc"}) == []
    assert only_error(validate_form_data(form, {"title": "ab"})).message == (
        "must be at least 3 characters long"
    )
    assert only_error(validate_form_data(form, {"title": "x" * 41})).message == (
        "must be at most 40 characters long"
    )


def test_camunda_min_and_max_become_numeric_bounds():
    form = form_from_camunda_fields([camunda_field("hours", "long", ("min", "1"), ("max", "40"))])
    prop = form.schema["properties"]["hours"]
    assert (prop["minimum"], prop["maximum"]) == (1, 40)
    assert validate_form_data(form, {"hours": 40}) == []
    assert validate_form_data(form, {"hours": 41}) == [FieldError("hours", "must be at most 40")]
    assert validate_form_data(form, {"hours": 0}) == [FieldError("hours", "must be at least 1")]


def test_camunda_long_field_rejects_text_and_fractions():
    form = form_from_camunda_fields([camunda_field("hours", "long")])
    assert validate_form_data(form, {"hours": "40"}) == [FieldError("hours", "must be an integer")]
    assert fields_of(validate_form_data(form, {"hours": 4.5})) == ["hours"]
    assert fields_of(validate_form_data(form, {"hours": True})) == ["hours"]


def test_camunda_date_bounds_are_kept_as_iso_dates_and_checked():
    # Given a date field limited to 2025 (one bound written the Camunda dd/MM/yyyy way)
    form = form_from_camunda_fields(
        [camunda_field("start", "date", ("min", "2025-01-01"), ("max", "31/12/2025"))]
    )
    prop = form.schema["properties"]["start"]
    assert (prop["x-min"], prop["x-max"]) == ("2025-01-01", "2025-12-31")
    # When dates inside and outside the range are submitted
    # Then only the ones outside are rejected, naming the bound
    assert validate_form_data(form, {"start": "2025-12-31"}) == []
    assert validate_form_data(form, {"start": "2024-12-31"}) == [
        FieldError("start", "must be on or after 2025-01-01")
    ]
    assert validate_form_data(form, {"start": "2026-01-01"}) == [
        FieldError("start", "must be on or before 2025-12-31")
    ]


def test_an_impossible_date_gets_a_format_error_not_a_range_error():
    form = form_from_camunda_fields([camunda_field("start", "date", ("min", "2025-01-01"))])
    assert validate_form_data(form, {"start": "2025-02-30"}) == [
        FieldError("start", "is not a valid date (YYYY-MM-DD)")
    ]


def test_camunda_readonly_becomes_read_only():
    form = form_from_camunda_fields([camunda_field("caseId", "string", ("readonly", None))])
    assert form.schema["properties"]["caseId"]["readOnly"] is True


@pytest.mark.parametrize(
    "rule", [("max", "ten"), ("minlength", "-1"), ("maxlength", "2.5"), ("min", None)]
)
def test_camunda_malformed_constraint_config_is_rejected_at_conversion(rule):
    with pytest.raises(ValueError, match="'f'"):
        form_from_camunda_fields([camunda_field("f", "long", rule)])


def test_camunda_unknown_constraints_are_ignored():
    form = form_from_camunda_fields([camunda_field("f", "string", ("validator", "x.y.Z"))])
    assert form.schema["properties"]["f"] == {"type": "string"}


def test_camunda_form_is_json_serialisable():
    form = form_from_camunda_fields([camunda_field("start", "date", ("required", None))])
    assert json.loads(json.dumps(form.to_dict()))["schema"]["required"] == ["start"]


# --- validate_form_data ------------------------------------------------------------------------

NESTED = FormDefinition(
    {
        "type": "object",
        "properties": {
            "applicant": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "email": {"format": "email"}},
                "required": ["name"],
            },
            "children": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string", "minLength": 1}},
                    "required": ["name"],
                },
            },
        },
        "required": ["applicant"],
    }
)


def test_missing_required_nested_property_is_reported_at_its_own_path():
    errors = validate_form_data(NESTED, {"applicant": {}})
    assert errors == [FieldError("applicant.name", "is required")]


def test_errors_inside_array_items_get_dotted_paths_with_the_index():
    errors = validate_form_data(
        NESTED, {"applicant": {"name": "A"}, "children": [{"name": "B"}, {"name": 7}, {}]}
    )
    assert errors == [
        FieldError("children.1.name", "must be a string"),
        FieldError("children.2.name", "is required"),
    ]


def test_all_errors_are_returned_sorted_by_field():
    errors = validate_form_data(
        NESTED, {"applicant": {"email": "nope"}, "children": [{"name": ""}]}
    )
    assert errors == [
        FieldError("applicant.email", "is not a valid e-mail address"),
        FieldError("applicant.name", "is required"),
        FieldError("children.0.name", "must be at least 1 characters long"),
    ]


@pytest.mark.parametrize("data", [None, [], "text", 5])
def test_data_that_is_not_an_object_gives_one_root_error(data):
    assert validate_form_data(NESTED, data) == [FieldError("", "must be an object")]


def test_missing_top_level_required_property_has_its_name_as_field():
    assert validate_form_data(NESTED, {}) == [FieldError("applicant", "is required")]


def test_unexpected_property_is_reported_at_its_own_path():
    form = FormDefinition(
        {"type": "object", "properties": {"a": {}}, "additionalProperties": False}
    )
    assert validate_form_data(form, {"a": 1, "b": 2}) == [FieldError("b", "is not allowed")]


def test_error_messages_do_not_echo_the_submitted_value():
    form = FormDefinition({"type": "object", "properties": {"pid": {"format": "fi-personal-id"}}})
    error = only_error(validate_form_data(form, {"pid": "010594Y9033"}))
    assert "010594" not in error.message


@pytest.mark.parametrize("format_name", ["fi-business-id", "y-tunnus"])
def test_business_id_formats_check_the_y_tunnus_check_digit(format_name):
    form = FormDefinition(
        {"type": "object", "properties": {"businessId": {"type": "string", "format": format_name}}}
    )
    assert validate_form_data(form, {"businessId": "7654321-2"}) == []
    assert validate_form_data(form, {"businessId": "7654321-3"}) == [
        FieldError("businessId", "is not a valid Finnish business ID (Y-tunnus)")
    ]


@pytest.mark.parametrize("format_name", ["fi-personal-id", "henkilotunnus"])
def test_personal_id_formats_check_the_henkilotunnus_control_character(format_name):
    form = FormDefinition(
        {"type": "object", "properties": {"personalId": {"type": "string", "format": format_name}}}
    )
    assert validate_form_data(form, {"personalId": "010594Y9032"}) == []
    assert validate_form_data(form, {"personalId": "010594Y9033"}) == [
        FieldError("personalId", "is not a valid Finnish personal identity code (henkilötunnus)")
    ]


@pytest.mark.parametrize(
    "format_name,good,bad",
    [
        ("date", "2024-02-29", "2023-02-29"),
        ("date", "2025-01-31", "31.1.2025"),
        ("date-time", "2025-03-01T08:30:00+02:00", "2025-03-01T08:30:00"),
        ("date-time", "2025-03-01T06:30:00Z", "2025-03-01 25:00:00Z"),
        ("email", "maija.meikalainen@example.fi", "maija@example"),
        ("email", "a@b.fi", "a b@c.fi"),
    ],
)
def test_standard_formats_are_checked(format_name, good, bad):
    form = FormDefinition({"type": "object", "properties": {"v": {"format": format_name}}})
    assert validate_form_data(form, {"v": good}) == []
    assert fields_of(validate_form_data(form, {"v": bad})) == ["v"]


def test_unknown_formats_and_non_string_values_pass_the_format_check():
    form = FormDefinition(
        {"type": "object", "properties": {"a": {"format": "whatever"}, "b": {"format": "date"}}}
    )
    assert validate_form_data(form, {"a": "anything", "b": 20250101}) == []


READ_ONLY = form_from_camunda_fields(
    [camunda_field("caseId", "string", ("readonly", None)), camunda_field("note")]
)


def test_read_only_field_submitted_unchanged_is_accepted():
    previous = {"caseId": "V-2025-000001"}
    assert validate_form_data(READ_ONLY, {"caseId": "V-2025-000001"}, previous=previous) == []


def test_read_only_field_that_is_changed_is_rejected():
    # Given a task whose data already holds the case id
    previous = {"caseId": "V-2025-000001"}
    # When the user submits a different case id
    errors = validate_form_data(READ_ONLY, {"caseId": "V-2025-000999"}, previous=previous)
    # Then the change is refused on that field
    assert errors == [FieldError("caseId", "is read-only")]


def test_read_only_field_without_previous_value_may_not_be_set():
    assert validate_form_data(READ_ONLY, {"caseId": "X"}) == [FieldError("caseId", "is read-only")]
    assert validate_form_data(READ_ONLY, {"note": "hello"}) == []


def test_read_only_field_may_be_submitted_with_its_default_when_no_previous_value():
    form = form_from_camunda_fields(
        [camunda_field("status", "string", ("readonly", None), default="new")]
    )
    assert validate_form_data(form, {"status": "new"}, previous={}) == []
    assert fields_of(validate_form_data(form, {"status": "done"}, previous={})) == ["status"]


def test_a_full_camunda_form_reports_every_problem_at_once():
    form = form_from_camunda_fields(
        [
            camunda_field("hours", "long", ("required", None), ("max", "40")),
            camunda_field("start", "date", ("required", None)),
            camunda_field("agreed", "boolean"),
        ]
    )
    errors = validate_form_data(form, {"hours": 50, "agreed": "yes"})
    assert errors == [
        FieldError("agreed", "must be true or false"),
        FieldError("hours", "must be at most 40"),
        FieldError("start", "is required"),
    ]


def test_date_bounds_inside_array_items_are_reported_with_dotted_paths():
    form = FormDefinition(
        {
            "type": "object",
            "properties": {
                "periods": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "start": {"type": "string", "format": "date", "x-min": "2025-01-01"}
                        },
                    },
                }
            },
        }
    )
    data = {"periods": [{"start": "2025-06-01"}, {"start": "2024-06-01"}]}
    assert validate_form_data(form, data) == [
        FieldError("periods.1.start", "must be on or after 2025-01-01")
    ]


def test_a_problem_names_the_rule_and_its_limit_so_pages_can_word_it() -> None:
    form = FormDefinition({"type": "object", "properties": {
        "count": {"type": "integer", "minimum": 1},
        "start": {"type": "string", "format": "date", "x-min": "2025-03-01"}}})

    problems = [e.problem() for e in validate_form_data(form, {"count": 0,
                                                               "start": "2025-02-28"})]

    assert problems == [
        {"field": "count", "message": "must be at least 1", "rule": "minimum", "limit": 1},
        {"field": "start", "message": "must be on or after 2025-03-01", "rule": "x-min",
         "limit": "2025-03-01"}]
