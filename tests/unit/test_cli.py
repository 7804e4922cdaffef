"""The `wirewatch` command on files: validate and test need no AWS and no network."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from wirewatch.cli import build_parser, main

from .helpers import EXAMPLE_WATCH, FEEDS_DIR, RULE_FIXTURES

if TYPE_CHECKING:
    from pathlib import Path

SEED_FEED = FEEDS_DIR / "boursorama-reuters.xml"


def test_validate_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE_WATCH)]) == 0
    assert "ok (15 feeds, 2 rules, 4 subscribers)" in capsys.readouterr().out


def test_validate_prints_file_line_problem_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    path = RULE_FIXTURES / "invalid" / "duplicate-rule-id.yaml"

    assert main(["validate", str(path)]) == 1

    assert capsys.readouterr().err.startswith(f"{path}:11: duplicate rule id 'crimea'")


def test_validate_names_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["validate", str(missing)]) == 1
    assert str(missing) in capsys.readouterr().err


def test_validate_reports_every_file_before_exiting_1(capsys: pytest.CaptureFixture[str]) -> None:
    invalid = RULE_FIXTURES / "invalid" / "duplicate-rule-id.yaml"

    assert main(["validate", str(invalid), str(EXAMPLE_WATCH)]) == 1

    out, err = capsys.readouterr()
    assert f"{invalid}:11: duplicate rule id 'crimea'" in err
    assert f"{EXAMPLE_WATCH}: ok" in out


def test_validate_names_a_file_that_is_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(EXAMPLE_WATCH.read_text(encoding="utf-8").encode("latin-1", "replace"))

    assert main(["validate", str(latin1)]) == 1

    err = capsys.readouterr().err
    assert err.startswith(f"{latin1}:") and "not UTF-8 (byte 0xe9" in err


def test_test_command_names_an_unknown_feed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(EXAMPLE_WATCH), "--feed", str(SEED_FEED), "--as", "nosuchfeed"]) == 1
    assert "no feed 'nosuchfeed' (feeds: boursorama-reuters," in capsys.readouterr().err


def test_test_command_shows_rules_and_terms(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(EXAMPLE_WATCH), "--feed", str(SEED_FEED)]) == 0

    out, err = capsys.readouterr()
    assert "Premier entretien en un an entre les ministres US et russe de la Défense" in out
    assert "=> defense-minister-contact [high] matched: Austin" in out
    assert "=> crimea-strike [critical] matched: Crimée, attaqu*, missile*" in out
    assert "BCE" not in out
    assert "2 items, 1 matching" in err


def test_test_command_json_is_one_object_per_rule_and_item(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(EXAMPLE_WATCH), "--feed", str(SEED_FEED), "--json"]) == 0

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(line["rule"] for line in lines) == ["crimea-strike", "defense-minister-contact"]
    for line in lines:
        assert {"rule", "title", "link", "matched"} <= set(line)
        assert line["link"].startswith("https://www.boursorama.com/")
        assert "utm_source" not in line["link"]
    assert "Crimée" in next(line for line in lines if line["rule"] == "crimea-strike")["matched"]


def test_test_command_reports_a_file_that_is_not_a_feed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html><body>Not a feed</body></html>")

    assert main(["test", str(EXAMPLE_WATCH), "--feed", str(page)]) == 1
    assert "not-a-feed" in capsys.readouterr().err


def test_every_command_has_help() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    for name, sub in commands.choices.items():  # type: ignore[union-attr]
        assert sub.description, f"{name} has no description"
        assert "Example:" in sub.description, f"{name} has no example"


def test_backtest_over_feed_files_counts_the_wire_once_per_rule(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(path) for path in sorted(FEEDS_DIR.iterdir())]

    assert main(["backtest", str(EXAMPLE_WATCH), "--since", "2016-01-01", "--feed", *files]) == 0

    out = capsys.readouterr().out
    assert "defense-minister-contact: 1 alert(s) on 1 day(s)" in out
    assert "crimea-strike: 1 alert(s) on 1 day(s)" in out
    assert "  2024-06-25     1  #" in out


def test_test_command_explains_one_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(EXAMPLE_WATCH), "--feed", str(SEED_FEED), "--rule", "crimea-strike", "--explain"]) == 0

    out = capsys.readouterr().out
    assert "defense-minister-contact" not in out
    assert "Crimée in content: …une attaque ukrainienne meurtrière dans la péninsule de *Crimée*" in out


def test_test_command_names_an_unknown_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(EXAMPLE_WATCH), "--feed", str(SEED_FEED), "--rule", "nope"]) == 1
    assert "no rule nope" in capsys.readouterr().err


def test_backtest_names_since_and_what_it_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", str(EXAMPLE_WATCH), "--since", "3w", "--feed", str(SEED_FEED)]) == 1

    err = capsys.readouterr().err
    assert "--since: '3w'" in err
    assert "--at" not in err
    assert "30m, 24h, 7d" in err
    assert "ISO-8601 date or time" in err
