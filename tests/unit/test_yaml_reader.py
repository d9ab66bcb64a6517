"""Reading a site file's YAML: every input is a value or `path: message`, never a traceback."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from telephony.config import ConfigError, load_site
from telephony.config.reader import LOADERS, read_yaml
from telephony.config.scalars import Ambiguous

BACKENDS = sorted(LOADERS)


def problems(text: str, loader: str = "libyaml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        read_yaml(text, "site.yaml", loader=loader)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("loader", BACKENDS)
def test_a_duplicate_key_is_refused_at_the_second_key(loader: str) -> None:
    text = "roster:\n  asa: {mon: ['08:00-10:00']}\n  bjorn: {}\n  asa: {tue: ['08:00-10:00']}\n"
    assert problems(text, loader) == [
        ("roster.asa: line 4: 'asa' is given twice in this mapping (first on line 2); "
        "YAML would silently keep the last")
    ]


def test_every_duplicate_key_is_reported() -> None:
    assert len(problems("a: 1\na: 2\nb: {c: 1, c: 2}\n")) == 2


def test_an_alias_reuses_a_week() -> None:
    text = "week: &week {mon: ['08:00-10:00']}\nasa: *week\nbjorn: *week\n"
    data = read_yaml(text)
    assert isinstance(data, dict) and data["asa"] == data["bjorn"] == {"mon": ["08:00-10:00"]}


def test_a_merge_key_adds_what_the_mapping_does_not_set() -> None:
    text = "week: &week {mon: [a], tue: [b]}\nasa: {<<: *week, tue: [c], sat: [d]}\n"
    data = read_yaml(text)
    assert isinstance(data, dict) and data["asa"] == {"mon": ["a"], "tue": ["c"], "sat": ["d"]}


def test_a_merge_of_something_else_than_mappings_is_refused() -> None:
    assert problems("a: {<<: [1, 2]}\n") == [
        "a.<<: line 1: << takes a mapping or a list of mappings"
    ]


@pytest.mark.parametrize("loader", BACKENDS)
def test_an_alias_to_the_list_that_holds_it_is_refused(loader: str) -> None:
    assert problems("site: &a [*a]\n", loader) == [
        "site[0]: line 1: alias *a refers to a value that contains it (a loop)"
    ]


def test_an_alias_without_an_anchor_is_refused() -> None:
    assert problems("a: *nowhere\n") == [
        "a: line 1: alias *nowhere has no anchor &nowhere before it"
    ]


def test_an_anchor_defined_twice_is_refused() -> None:
    assert problems("a: &x 1\nb: &x 2\n") == ["b: line 2: anchor &x is already defined on line 1"]


@pytest.mark.parametrize("loader", BACKENDS)
def test_aliases_expanding_beyond_the_budget_are_refused_quickly(loader: str) -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):  # 10**9 values once expanded
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        levels.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    started = time.monotonic()
    [problem] = problems("\n".join(levels) + "\n", loader)
    assert "more than 2,000,000 values with aliases expanded" in problem
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("loader", BACKENDS)
def test_deep_nesting_is_refused_without_recursion(loader: str) -> None:
    text = "a: " + "[" * 100_000 + "]" * 100_000 + "\n"
    [problem] = problems(text, loader)
    # Our own limit answers, unless the libyaml a PyYAML wheel bundles (0.2.5 and later
    # stop at 1,000 levels) refuses first: either way one line, no RecursionError.
    assert problem in (
        "site.yaml: line 1: nested more than 64 levels deep",
        (
            "site.yaml: line 1, column 1003: not valid YAML "
            "(while increasing flow level; exceeded maximum nesting depth)"
        ),
    )


def test_an_empty_file_reads_as_nothing() -> None:
    assert read_yaml("") is None
    assert read_yaml("# only a comment\n") is None


def test_a_second_document_is_refused() -> None:
    assert problems("a: 1\n---\nb: 2\n") == [
        "site.yaml: a second YAML document starts at line 2 (---): a site file is one document"
    ]


@pytest.mark.parametrize("loader", BACKENDS)
def test_a_tab_in_the_indentation_is_named(loader: str) -> None:
    assert problems("a:\n\tb: 1\n", loader) == [
        "site.yaml: line 2, column 1: a tab character; YAML indents with spaces only"
    ]


@pytest.mark.parametrize("loader", BACKENDS)
def test_a_control_character_is_named_by_line_and_column(loader: str) -> None:
    assert problems("a: 1\nb: x\x07y\n", loader) == [
        "site.yaml: line 2, column 5: a control character (U+0007) that YAML does not allow"
    ]


def test_a_lone_surrogate_is_refused() -> None:
    assert problems('a: "\\ud800"\n', "python") == [
        "a: line 1: a \\u escape that is not a character (a lone surrogate)"
    ]
    assert problems("a: \ud800\n") == ["site.yaml: line 1: not valid Unicode"]


def test_a_list_or_mapping_as_a_key_is_refused() -> None:
    assert problems("? [a, b]\n: 1\n") == [
        "site.yaml: line 1: a key must be a name, not a list or mapping"
    ]


def test_a_key_yaml_reads_as_a_boolean_must_be_quoted() -> None:
    assert problems("roster: {on: {}}\n") == [
        ("roster.on: line 1: YAML reads this key as true/false (yes, no, on and off are "
        "booleans): put it in quotes")
    ]


def test_tags_other_than_str_are_refused() -> None:
    assert problems("a: !!binary aGVsbG8=\n") == ["a: line 1: the tag !!binary is not supported"]
    assert read_yaml("a: !!str 0123\n") == {"a": "0123"}


@pytest.mark.parametrize(
    ("text", "reading"),
    [
        ("yes", "true/false"), ("off", "true/false"), ("0123", "an octal number"),
        ("0x1F", "a hexadecimal number"), ("0b101", "a binary number"),
        ("1_000", "a number (the _ are dropped)"), ("10:00", "a base-60 number"),
        ("2026-03-29", "a date"),
    ],
)
def test_yaml_1_1_surprises_are_flagged_not_misread(text: str, reading: str) -> None:
    value = read_yaml(f"a: {text}\n")
    assert isinstance(value, dict) and isinstance(value["a"], Ambiguous)
    assert value["a"].reading.startswith(reading)
    assert value["a"].value == yaml.safe_load(f"a: {text}\n")["a"]


def test_plain_decimals_true_false_and_null_keep_their_yaml_meaning() -> None:
    assert read_yaml("a: [12, -3, true, false, null, ~, 1.5, '0123', text]\n") == {
        "a": [12, -3, True, False, None, None, 1.5, "0123", "text"]
    }


# Any data PyYAML can write reads back as yaml.safe_load reads it, with either parser.
scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False)
data = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(data, st.sampled_from(BACKENDS))
def test_what_safe_dump_writes_reads_as_safe_load_reads_it(value: object, loader: str) -> None:
    text = yaml.safe_dump({"v": value}, allow_unicode=True)
    assert read_yaml(text, loader=loader) == yaml.safe_load(text)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from(BACKENDS))
def test_any_text_is_a_value_or_a_config_error(text: str, loader: str) -> None:
    try:
        read_yaml(text, loader=loader)
    except ConfigError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab:-[]{}&*!|>'\"#\n\t ,?%@`<=~01.", max_size=60))
def test_yaml_punctuation_soup_is_a_value_or_a_config_error(text: str) -> None:
    for loader in BACKENDS:
        try:
            read_yaml(text, loader=loader)
        except ConfigError:
            pass


def test_floats_keep_their_yaml_meaning() -> None:
    value = read_yaml("a: [.inf, -.inf]\n")
    assert isinstance(value, dict) and value["a"] == [math.inf, -math.inf]


def test_a_file_that_is_not_utf8_is_named_by_line(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_bytes(b"site: x\npbx:\n  ami_secret: \xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        load_site(path, {})
    assert [str(p) for p in caught.value.problems] == [f"{path}: line 3: not UTF-8 text"]


def test_a_directory_is_not_a_site_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_site(tmp_path, {})
    assert [str(p) for p in caught.value.problems] == [f"{tmp_path}: Is a directory"]


def test_an_endless_file_is_refused_after_32_mib() -> None:
    with pytest.raises(ConfigError) as caught:
        load_site(Path("/dev/zero"), {})
    assert str(caught.value) == "/dev/zero: larger than 32 MiB; not a site file"


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_bytes(b"\xef\xbb\xbfsite: x\n")
    with pytest.raises(ConfigError) as caught:
        load_site(path, {})
    assert [str(p) for p in caught.value.problems] == ["pbx: is required"]
