"""Subject helpers: strip reply/forward prefixes in many languages (F-REF-8)."""

from __future__ import annotations

import re
from functools import lru_cache

# Reply and forward prefixes seen in real mail: English, German (AW, WG), Nordic (SV, VS, VB),
# French (TR, RE), Spanish/Portuguese (RV, RES, ENC), Dutch (Antw, Doorst), Polish (Odp, PD),
# Turkish (YNT, ILT), Italian (R, I), Chinese and Japanese (回复, 回覆, 转发, 轉寄, 答复, 返信, 転送).
BUILT_IN_PREFIXES = (
    "re", "fw", "fwd", "aw", "wg", "sv", "vs", "vb", "tr", "rv", "res", "enc", "antw", "antwort",
    "doorst", "odp", "pd", "ynt", "ilt", "r", "i", "rif", "vá", "απ", "σχετ", "回复", "回覆", "转发",
    "轉寄", "答复", "返信", "転送", "fyi",
)


@lru_cache(maxsize=64)
def _prefix_regex(extra: tuple[str, ...]) -> re.Pattern:
    words = sorted({w.lower() for w in BUILT_IN_PREFIXES + extra}, key=len, reverse=True)
    alternation = "|".join(re.escape(w) for w in words)
    # e.g. "Re: ", "RE[2]: ", "AW:", "回复：", and "[EXT] Re:" stacks, repeated
    return re.compile(rf"^(?:\s*(?:{alternation})\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*)+", re.IGNORECASE)


def strip_prefixes(subject: str, extra: tuple[str, ...] = ()) -> str:
    """The subject without leading reply/forward prefixes, trimmed."""
    return _prefix_regex(tuple(extra)).sub("", subject or "").strip()


def bundle_subject(subject: str, extra_prefixes: tuple[str, ...]) -> str:
    """The subject as auto-bundling compares it: prefixes stripped, case and spaces folded."""
    return " ".join(strip_prefixes(subject, extra_prefixes).lower().split())


# The forward prefixes among them: a tag right after one was in the forwarded mail's subject.
FORWARD_PREFIXES = ("fw", "fwd", "wg", "tr", "rv", "enc", "doorst", "vb", "pd", "ilt", "i", "转发", "轉寄", "転送", "fyi")


def is_forward(subject: str, extra: tuple[str, ...] = ()) -> bool:
    """Whether the subject's leading prefixes include a forward ("Fwd:", "WG:", "Re: FW:" ...)."""
    stack = _prefix_regex(tuple(extra)).match(subject or "")
    if not stack:
        return False
    words = re.findall(r"[^\W\d_]+", stack.group(0).lower())
    return any(word in FORWARD_PREFIXES for word in words)
