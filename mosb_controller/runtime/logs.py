"""Log lines a person or a log pipeline can read: text by default, JSON on request.

A line about a build carries its MachineOSConfig, MachineOSBuild and architecture as
fields (`extra=build_fields(...)`): the text format appends them as `key=value`, the
JSON format (python-json-logger, already kopf's dependency) emits them as keys.
"""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

BUILD_FIELDS = ("mosc", "mosb", "arch")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Quiet by default: kopf logs a line per handled event, aiohttp one per probe.
NOISY_LOGGERS = ("kopf.objects", "aiohttp.access")


def build_fields(mosc: str, mosb: str | None = None, arch: str | None = None) -> dict[str, str]:
    """`extra=` of a log call about a build; unknown parts are left out."""
    fields = {"mosc": mosc, "mosb": mosb, "arch": arch}
    return {k: v for k, v in fields.items() if v}


class TextFormatter(logging.Formatter):
    """One readable line; the build's fields, when present, after the message."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = [f"{k}={getattr(record, k)}" for k in BUILD_FIELDS if getattr(record, k, None)]
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # keep a traceback below the fields
        return f"{head} [{' '.join(fields)}]{newline}{rest}"


def json_formatter() -> logging.Formatter:
    """One JSON object a line: time, level, logger, message and any build fields."""
    return JsonFormatter(
        "{asctime}{levelname}{name}{message}",
        style="{",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


def configure(log_format: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
