"""Task metrics against known values."""

from __future__ import annotations

import pytest

from curate.errors import ConfigError
from curate.evaluate.metrics import (
    FormatSpec,
    compare_means,
    lcs_length,
    length_ratio,
    mean_scores,
    normalize,
    rouge_l,
    score,
    token_f1,
)


def test_normalize_and_matches():
    assert normalize("  The Cat, sat!  ") == "cat sat"
    s = score("The cat sat.", "cat sat")
    assert s["exact_match"] == 0.0 and s["normalized_match"] == 1.0
    assert score(" Paris ", "Paris")["exact_match"] == 1.0


def test_token_f1_and_rouge_l_known_values():
    # pred: cat sat on mat (4), ref: cat sat (2): P=2/4, R=1 -> F1=2/3
    assert token_f1("the cat sat on the mat", "the cat sat") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0
    assert lcs_length("b c d".split(), "c d e".split()) == 2
    # ROUGE-L word order matters where F1 does not.
    assert token_f1("sat cat", "cat sat") == 1.0
    assert rouge_l("sat cat", "cat sat") == pytest.approx(0.5)
    assert rouge_l("police killed the gunman", "police kill the gunman") == pytest.approx(2 / 3)


def test_length_ratio():
    assert length_ratio("a b c d", "a b") == 2.0
    assert length_ratio("x", "") is None
    assert "length_ratio" not in score("x", "")


def test_format_checks():
    schema = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
    fmt = FormatSpec(schema=schema, regex=r"\{.*\}")
    assert fmt.check('{"name": "Ada"}') == {
        "json_valid": 1.0,
        "schema_valid": 1.0,
        "regex_match": 1.0,
    }
    assert fmt.check('{"name": 3}') == {"json_valid": 1.0, "schema_valid": 0.0, "regex_match": 1.0}
    assert fmt.check("name: Ada") == {"json_valid": 0.0, "schema_valid": 0.0, "regex_match": 0.0}
    assert FormatSpec().check("anything") == {}
    assert FormatSpec(expect_json=True).check("[1, 2]") == {"json_valid": 1.0}


def test_bad_format_options_are_config_errors():
    with pytest.raises(ConfigError, match="--response-regex: invalid pattern"):
        FormatSpec(regex="(")
    with pytest.raises(ConfigError, match="--response-schema: not a valid JSON Schema"):
        FormatSpec(schema={"type": "nonsense"})


def test_means_and_comparison():
    means = mean_scores([{"token_f1": 1.0, "length_ratio": 2.0}, {"token_f1": 0.0}])
    assert means == {"token_f1": 0.5, "length_ratio": 2.0}
    table = compare_means({"token_f1": 0.5}, {"token_f1": 0.75})
    assert table == {"token_f1": {"base": 0.5, "tuned": 0.75, "delta": 0.25}}
