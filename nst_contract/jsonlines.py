"""Reading one JSON object from a line (or a small file): the one reader of the project's JSON
lines, so that whatever a line holds — not JSON, a deeply nested array, a number with 5000
digits, a list instead of an object — the reader gets one error, ``BadLine``, never a crash."""
from __future__ import annotations

import json


class BadLine(ValueError):
    """A line that is not one JSON object; the message says what it is instead."""


def read_json(line) -> dict:
    """``line`` (str or bytes, UTF-8) → the JSON object it holds, or raise ``BadLine``."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    try:
        value = json.loads(text)
    except RecursionError:
        raise BadLine("its JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and the int-digits limit
        raise BadLine(f"it is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise BadLine(f"it holds a JSON {_KINDS.get(type(value), type(value).__name__)}, not an object")
    return value


_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "true/false", type(None): "null"}
