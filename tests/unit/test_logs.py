"""Log lines: readable text by default, JSON on request, a build's fields on both."""

from __future__ import annotations

import json
import logging

from mosb_controller.runtime.logs import TextFormatter, build_fields, json_formatter


def record(message: str, **extra: str) -> logging.LogRecord:
    made = logging.LogRecord(
        "mosb_controller.runtime.builds", logging.INFO, "x", 1, message, (), None
    )
    made.__dict__.update(extra)
    return made


def test_text_line_names_the_build() -> None:
    line = TextFormatter().format(
        record("creating Job w-1-arm64", **build_fields("w", "w-1", "arm64"))
    )
    assert line.endswith(
        "mosb_controller.runtime.builds: creating Job w-1-arm64 [mosc=w mosb=w-1 arch=arm64]"
    )


def test_text_line_without_build_fields_is_plain() -> None:
    assert TextFormatter().format(record("node watch expired")).endswith(": node watch expired")


def test_json_line_carries_the_fields_as_keys() -> None:
    line = json_formatter().format(
        record("ArchBuildStarted: ...", **build_fields("w", "w-1", "s390x"))
    )
    parsed = json.loads(line)
    assert parsed["message"] == "ArchBuildStarted: ..."
    assert parsed["level"] == "INFO" and parsed["logger"] == "mosb_controller.runtime.builds"
    assert (parsed["mosc"], parsed["mosb"], parsed["arch"]) == ("w", "w-1", "s390x")
    assert "time" in parsed


def test_unknown_parts_are_left_out() -> None:
    assert build_fields("w") == {"mosc": "w"}
