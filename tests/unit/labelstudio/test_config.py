"""The labeling-config generator and our own label validation (the server validates neither)."""

from __future__ import annotations

import math

import pytest

from labelloop.connectors.labelstudio.config import (
    LabelSchema,
    choice_result,
    label_from_result,
    text_classification_config,
    validate_label_config,
)


def test_config_has_text_and_single_choice_in_given_order() -> None:
    config = text_classification_config(["pos", "neg", "neutral"])
    assert config.startswith('<View><Text name="text" value="$text"/>')
    assert '<Choices name="label" toName="text" choice="single">' in config
    assert LabelSchema.from_config(config).labels == ("pos", "neg", "neutral")


@pytest.mark.parametrize("label", ["a & b", "<tag>", 'say "hi"', "it's", "naïve ✓", "x]]>y"])
def test_labels_are_xml_escaped_and_round_trip(label: str) -> None:
    config = text_classification_config([label, "other"])
    validate_label_config(config)
    assert LabelSchema.from_config(config).labels == (label, "other")


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (["a", "a"], "appears twice"),
        (["a"], "at least 2 labels"),
        (["a", ""], "non-empty"),
        (["a", " b"], "whitespace"),
        (["a", 3], "non-empty string"),
    ],
)
def test_bad_label_sets_are_rejected(labels: list[object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        text_classification_config(labels)  # type: ignore[arg-type]


def test_a_plain_string_is_not_a_label_set() -> None:
    with pytest.raises(TypeError, match="sequence of strings"):
        text_classification_config("pos")


@pytest.mark.parametrize(
    "config",
    [
        "<View><Text name='text' value='$text'/>",  # broken XML
        '<View><Choices name="label" toName="nope"><Choice value="a"/></Choices></View>',  # dangling toName
    ],
)
def test_invalid_configs_raise_value_error(config: str) -> None:
    with pytest.raises(ValueError, match="invalid Label Studio labeling config"):
        validate_label_config(config)


def test_schema_rejects_unknown_label_naming_label_and_context() -> None:
    schema = LabelSchema.from_config(text_classification_config(["pos", "neg"]))
    with pytest.raises(ValueError, match=r"unknown label 'maybe' for item 7; allowed labels: \['pos', 'neg'\]"):
        schema.check_label("maybe", context="item 7")


@pytest.mark.parametrize(
    ("score", "version", "match"),
    [
        (7.5, "m1", "in \\[0, 1\\]"),
        (math.nan, "m1", "finite"),
        (-0.1, "m1", "in \\[0, 1\\]"),
        (0.5, "", "model_version"),
    ],
)
def test_schema_rejects_bad_predictions(score: float, version: str, match: str) -> None:
    schema = LabelSchema.from_config(text_classification_config(["pos", "neg"]))
    with pytest.raises(ValueError, match=match):
        schema.check_prediction("pos", score, version, context="item 1")


def test_choice_result_round_trips_and_is_valid_for_the_sdk() -> None:
    from label_studio_sdk.label_interface import LabelInterface

    config = text_classification_config(["a & b", "neg"])
    result = choice_result("a & b")
    assert label_from_result(result) == "a & b"
    assert LabelInterface(config).validate_prediction({"result": result, "score": 0.2}, return_errors=True) == []


def test_label_from_result_none_for_skips_and_error_for_several_choices() -> None:
    assert label_from_result([]) is None
    assert label_from_result(None) is None
    several = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["a", "b"]}}]
    with pytest.raises(ValueError, match="2 choices"):
        label_from_result(several)
