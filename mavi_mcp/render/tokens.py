"""The page-budget token estimator: `ceil(utf8_bytes / 3.5)`.

English transcript text runs about 4 characters per token in Claude's and OpenAI's tokenizers; timestamps
and digits cost more, and non-Latin scripts take 2-3 UTF-8 bytes per character and about one token each.
Dividing UTF-8 bytes by 3.5 over-estimates all of these a little, so a page never exceeds its budget in real
tokens by more than the estimator's error on unusual text. One function, so every format counts the same way.
"""

from __future__ import annotations

import math

BYTES_PER_TOKEN = 3.5


def estimate_tokens(text: str) -> int:
    """Estimated tokens of `text` (see the module docstring)."""
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def token_bytes(tokens: int) -> int:
    """The UTF-8 byte budget that `estimate_tokens` maps to `tokens`."""
    return math.floor(tokens * BYTES_PER_TOKEN)
