"""One JSON Lines record per call: safe for line splitters other than \\n and for lone surrogates."""

from __future__ import annotations

import json
import re
from typing import Any, Callable

# Legal inside JSON strings, but JavaScript, Python's str.splitlines() and
# many log shippers split lines on them; lone surrogates cannot be encoded
# as UTF-8 at all. All are written as \\u escapes, which every reader decodes.
_UNSAFE = re.compile("[\u0085\u2028\u2029\ud800-\udfff]")


def dumps_line(record: Any, sort_keys: bool = False, default: Callable[[Any], Any] | None = None) -> str:
    """`record` as one line of JSON: non-ASCII text kept readable, the unsafe characters escaped.

    `default` turns values JSON does not know (times) into ones it does.
    """
    text = json.dumps(record, ensure_ascii=False, sort_keys=sort_keys, default=default)
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group(0)):04x}", text)
