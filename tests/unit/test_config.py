"""Settings: flags over environment over defaults, and the README table can't drift."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from pydantic import ValidationError

from mosb_controller.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def parse(argv: list[str], environ: dict[str, str]) -> Settings:
    parser = argparse.ArgumentParser()
    Settings.add_arguments(parser)
    return Settings.load(parser.parse_args(argv), environ)


def test_flag_wins_over_environment_which_wins_over_default() -> None:
    assert parse([], {}).namespace == "mosb-controller"
    assert parse([], {"MOSB_NAMESPACE": "from-env"}).namespace == "from-env"
    assert parse(["--namespace", "from-flag"], {"MOSB_NAMESPACE": "env"}).namespace == "from-flag"


def test_invalid_value_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match="log_format"):
        parse(["--log-format", "yaml"], {})


def test_readme_configuration_table_matches_the_code() -> None:
    assert Settings.markdown_table() in README.read_text(), (
        "README's configuration table is stale: paste Settings.markdown_table()"
    )


def test_leader_election_is_on_by_default_and_negatable() -> None:
    assert parse([], {}).leader_election is True
    assert parse(["--no-leader-election"], {}).leader_election is False
    assert parse([], {"MOSB_LEADER_ELECTION": "false"}).leader_election is False
    assert parse(["--leader-election"], {"MOSB_LEADER_ELECTION": "false"}).leader_election


def test_lease_timings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValidationError, match="renew deadline"):
        parse(["--leader-election-renew-deadline-seconds", "15"], {})  # == lease duration
    with pytest.raises(ValidationError, match="retry period"):
        parse(["--leader-election-retry-period-seconds", "9"], {})  # 1.2 * 9 > 10
