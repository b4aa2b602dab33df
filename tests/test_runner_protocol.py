"""Unit tables for the GitHub runner protocol: escaping, output files, masks, annotations, groups."""

from __future__ import annotations

import io

import pytest

from mlops_ci.runner import Runner, escape_data, escape_property, format_output, parse_output_file


@pytest.mark.parametrize(
    ("raw", "data", "prop"),
    [
        ("plain", "plain", "plain"),
        ("50% done", "50%25 done", "50%25 done"),
        ("line1\nline2", "line1%0Aline2", "line1%0Aline2"),
        ("cr\r\n", "cr%0D%0A", "cr%0D%0A"),
        ("a:b,c", "a:b,c", "a%3Ab%2Cc"),
        ("%0A literal", "%250A literal", "%250A literal"),
    ],
    ids=["plain", "percent", "newline", "crlf", "colon-comma", "already-escaped-looking"],
)
def test_escaping_matches_the_toolkit(raw: str, data: str, prop: str) -> None:
    assert escape_data(raw) == data
    assert escape_property(raw) == prop


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("model-version", "3"),
        ("empty", ""),
        ("equals", "a=b=c"),
        ("multi", "first line\nsecond line"),
        ("trailing", "ends with newline\n"),
        ("looks-like-delimiter", "EOF\nghadelimiter\n<<"),
        ("unicode", "réseau ✅"),
    ],
    ids=["single", "empty", "equals", "multi-line", "trailing-newline", "delimiter-like", "unicode"],
)
def test_output_file_round_trips(name: str, value: str) -> None:
    text = format_output(name, value)
    assert parse_output_file(text) == {name: value}
    if "\n" in value:
        first = text.splitlines()[0]
        assert first.startswith(f"{name}<<ghadelimiter_") and len(first) > len(name) + 20


def test_heredoc_delimiters_are_random() -> None:
    first = format_output("x", "a\nb").splitlines()[0]
    second = format_output("x", "a\nb").splitlines()[0]
    assert first != second


def test_a_value_containing_the_delimiter_is_refused() -> None:
    with pytest.raises(ValueError, match="delimiter"):
        format_output("x", "a\nDELIM\nb", delimiter="DELIM")


def _runner(actions: bool) -> tuple[Runner, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    environ = {"GITHUB_ACTIONS": "true"} if actions else {}
    return Runner(environ, out, err), out, err


def test_mask_in_actions_emits_add_mask_and_redacts_later_lines() -> None:
    runner, out, _ = _runner(actions=True)
    runner.mask("s3cr3t-value")
    runner.info("using s3cr3t-value now")
    lines = out.getvalue().splitlines()
    assert lines == ["::add-mask::s3cr3t-value", "using *** now"]


def test_multi_line_secret_masks_every_line() -> None:
    runner, out, _ = _runner(actions=True)
    runner.mask("line-one-secret\nline-two-secret")
    masks = [line for line in out.getvalue().splitlines() if line.startswith("::add-mask::")]
    assert "::add-mask::line-one-secret%0Aline-two-secret" in masks
    assert "::add-mask::line-one-secret" in masks and "::add-mask::line-two-secret" in masks
    runner.info("x line-two-secret y")
    assert out.getvalue().splitlines()[-1] == "x *** y"


def test_mask_outside_actions_prints_nothing_but_still_redacts() -> None:
    runner, out, err = _runner(actions=False)
    runner.mask("canary-123456")
    runner.warning("leaked canary-123456?", title="t")
    assert out.getvalue() == ""
    assert err.getvalue() == "mlops-ci: warning: t: leaked ***?\n"


@pytest.mark.parametrize(
    ("level", "message", "title", "expected"),
    [
        ("error", "bad: thing", "mlops-ci register-model: bad input",
         "::error title=mlops-ci register-model%3A bad input::bad: thing"),
        ("warning", "two\nlines", "", "::warning::two%0Alines"),
        ("notice", "100% local", "a,b", "::notice title=a%2Cb::100%25 local"),
    ],
    ids=["error-title-colon", "warning-multiline", "notice-percent-comma"],
)
def test_annotations(level: str, message: str, title: str, expected: str) -> None:
    runner, out, _ = _runner(actions=True)
    runner.annotate(level, message, title)
    assert out.getvalue().splitlines() == [expected]


def test_log_group_wraps_lines_and_defuses_workflow_commands() -> None:
    runner, out, _ = _runner(actions=True)
    runner.log_group("score.py logs", "first\n::set-output name=x::y\nlast")
    assert out.getvalue().splitlines() == ["::group::score.py logs", "first", "  ::set-output name=x::y", "last",
                                           "::endgroup::"]


def test_summary_is_appended_and_redacted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    runner = Runner({"GITHUB_STEP_SUMMARY": str(summary)}, io.StringIO(), io.StringIO())
    runner.mask("key-abcdef")
    runner.append_summary("| key | key-abcdef |")
    assert summary.read_text(encoding="utf-8") == "earlier step\n| key | *** |\n\n"


def test_outputs_printed_plainly_or_as_json_with_secrets_hidden() -> None:
    runner, out, _ = _runner(actions=False)
    runner.print_outputs({"a": "1", "scoring-key": "k-123456"}, frozenset({"scoring-key"}), as_json=False)
    assert out.getvalue() == "a=1\nscoring-key=***\n"
    runner, out, _ = _runner(actions=False)
    runner.print_outputs({"a": "1", "scoring-key": "k-123456"}, frozenset({"scoring-key"}), as_json=True)
    assert '"scoring-key": "***"' in out.getvalue() and '"a": "1"' in out.getvalue()
