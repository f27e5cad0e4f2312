"""Checking one option value: the type a source must give, conversion of environment text, and limits.

Nothing here reads settings or the environment: :mod:`bkstorages.conf` finds
a value and where it came from, and :func:`check_value` says whether it will
do, as a :class:`Problem` that names the option and its source but never
quotes a secret.
"""

from __future__ import annotations

import json
import math
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bkstorages.client import metadata_headers
from bkstorages.options import ENVIRONMENT, Option

__all__ = ["ENDPOINT_HINT", "Problem", "check_value", "endpoint_problem"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_EXPECTED = {
    "str": "a string",
    "bool": "a boolean",
    "optional_bool": "a boolean",
    "float": "a number",
    "int": "an integer",
    "dict": "a dict of strings (the environment variable: a JSON object)",
}
_POSITIVE_SECONDS = ("connect_timeout", "read_timeout", "deadline", "timeout")
_POSITIVE = ("block_size", "block_upload_workers", "list_page_size", "url_cache_size")
_NOT_NEGATIVE = ("max_retries", "block_upload_threshold", "max_memory_size", "backoff")

ENDPOINT_HINT = (
    "Use the bk-repo gateway address, e.g. 'https://bkrepo.example.com' "
    "(requests then go to {endpoint}/generic/... and {endpoint}/repository/...)."
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a storage's configuration.

    ``kind`` is ``missing``, ``endpoint``, ``type``, ``expiry``, ``value`` or
    ``unknown``; ``source`` is where the value came from (``keyword``,
    ``class attribute``, ``setting``, ``environment``, ``default``);
    ``where`` names it for people (``settings.BKREPO_ENDPOINT_URL``, ...).
    Neither ``message`` nor ``hint`` contains the value of a secret.
    """

    option: str
    source: str
    where: str
    kind: str
    message: str
    hint: str = ""
    setting: str | None = None


def endpoint_problem(value: str) -> str | None:
    """What is wrong with an endpoint URL (never quoting it), or None."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "it cannot be parsed (check the host and port)"
    if parts.scheme not in {"http", "https"}:
        return "it must start with http:// or https://"
    if not parts.hostname:
        return "it has no host name"
    if parts.username or parts.password:
        return "it must not contain credentials; set BKREPO_USERNAME and BKREPO_PASSWORD instead"
    if parts.query or parts.fragment:
        return "it must not contain a query string or fragment"
    if parts.path.rstrip("/").endswith("/generic"):
        return "it must be the gateway root, without the /generic service prefix"
    return None


def _describe(option: Option, value: Any) -> str:
    if option.secret:
        return type(value).__name__
    return f"{type(value).__name__} {value!r}"


def _type_hint(option: Option, name: str, value: Any) -> str:
    if option.kind in ("bool", "optional_bool"):
        example = "False" if str(value).strip().lower() in _FALSE | {""} else "True"
        return (
            f"Write {name} = {example} without quotes: any other code reading the setting sees a "
            "non-empty string such as 'false' as true."
        )
    if option.name == "url_expire_seconds":
        return f"Write {name} = 3600 (a number, without quotes)."
    if option.kind in ("float", "int"):
        return f"Write {name} as a number, without quotes."
    if option.kind == "dict":
        return f'Write {name} = {{"key": "value"}}; in the environment, as JSON.'
    return f"Write {name} as a string, e.g. os.environ['{name}'] or '...'."


def _convert(option: Option, value: Any, source: str) -> tuple[Any, bool]:
    """``(value, ok)``: Python values must have their type; environment text is parsed."""
    kind = option.kind
    text = value.strip().lower() if isinstance(value, str) else None
    if kind == "str":
        return value, isinstance(value, str)
    if kind == "dict":
        if source == ENVIRONMENT and isinstance(value, str):
            try:
                value = json.loads(value)  # the environment's is JSON text
            except ValueError:
                return value, False
        return (dict(value), True) if isinstance(value, Mapping) else (value, False)
    if kind in ("bool", "optional_bool"):
        if isinstance(value, bool):
            return value, True
        if source == ENVIRONMENT and text in _TRUE | _FALSE:
            return text in _TRUE, True
        return value, False
    if isinstance(value, bool):
        return value, False
    if source == ENVIRONMENT and isinstance(value, str):
        try:
            value = float(value) if kind == "float" else int(value)
        except ValueError:
            return value, False
        return value, True
    if kind == "float":
        return (float(value), True) if isinstance(value, (int, float)) else (value, False)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return int(value), True
    return value, False


def _value_problem(option: Option, value: Any) -> tuple[str, str, str] | None:
    """``(kind, what is wrong, hint)`` for a value of the right type, or None."""
    name = option.name
    if name == "endpoint_url":
        problem = endpoint_problem(value)
        return ("endpoint", f"is not a valid bk-repo endpoint URL: {problem}", ENDPOINT_HINT) if problem else None
    if name == "public_base_url" and value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return "value", "must be an http:// or https:// URL", "e.g. 'https://cdn.example.com/static-bucket'"
    if name == "url_expire_seconds" and not (value > 0 and math.isfinite(value)):
        return (
            "expiry",
            "must be a positive number of seconds; signed URLs that never expire are not offered",
            "Signed URLs need a finite lifetime; use e.g. 3600 for one hour.",
        )
    if name in _POSITIVE_SECONDS and value is not None and not value > 0:
        return "value", "must be a positive number of seconds", "e.g. 10"
    if name in _POSITIVE and not value > 0:
        return "value", "must be positive", ""
    if name in _NOT_NEGATIVE and value < 0:
        return "value", "must not be negative", ""
    if name == "time_zone":
        try:
            zoneinfo.ZoneInfo(value)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            return "value", "is not a known time zone", "e.g. 'Asia/Shanghai' or 'UTC'"
    if name in ("cache_control", "object_metadata") and value:
        try:
            metadata_headers({"Cache-Control": value} if name == "cache_control" else value)
        except ValueError as error:
            return "value", f"cannot be stored with files ({error})", ""
    if name == "location":
        from django.core.exceptions import SuspiciousFileOperation

        from bkstorages.backends.names import clean_name

        try:
            clean_name(value)
        except SuspiciousFileOperation as error:
            return "value", f"is not a valid location ({error})", "Use a relative folder such as 'media'."
    return None


def check_value(option: Option, value: Any, source: str, where: str, setting: str | None) -> tuple[Any, Problem | None]:
    """The converted value of ``option`` from ``source``, or a problem saying what is wrong."""
    converted, ok = _convert(option, value, source)
    hint_name = setting or option.name
    if not ok:
        message = f"{where} must be {_EXPECTED[option.kind]}, not {_describe(option, value)}."
        hint = _type_hint(option, hint_name, value)
        return None, Problem(option.name, source, where, "type", message, hint, setting)
    found = _value_problem(option, converted)
    if found:
        kind, what, hint = found
        return None, Problem(option.name, source, where, kind, f"{where} {what}.", hint, setting)
    return converted, None
