""" "Did you mean" for unknown keys, enum values, reference and model names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# difflib's default; below it the "nearest" choice is usually a different word.
_CUTOFF = 0.6


def _normalise(text: str) -> str:
    # "Dolly-In", "dolly in" and "dolly_in" are the same slip of the keyboard.
    return text.strip().lower().replace("-", "_").replace(" ", "_")


def suggest(value: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``value``, as spelled in ``choices``; None if nothing is close.

    Comparison ignores case and treats ``-``, space and ``_`` alike, so
    ``"Dolly-In"`` suggests ``"dolly_in"``. Ties go to the earlier choice.
    """
    by_form: dict[str, str] = {}
    for choice in choices:
        by_form.setdefault(_normalise(choice), choice)
    wanted = _normalise(value)
    if wanted in by_form:
        return by_form[wanted]
    close = difflib.get_close_matches(wanted, list(by_form), n=1, cutoff=_CUTOFF)
    return by_form[close[0]] if close else None
