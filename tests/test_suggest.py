"""The "did you mean" helper shared by the loader, templates and provider records."""

from __future__ import annotations

from shotlist.suggest import suggest


def test_typo_suggests_nearest() -> None:
    assert suggest("dolly_inn", ["dolly_in", "dolly_out", "zoom_in"]) == "dolly_in"


def test_case_and_separators_do_not_matter() -> None:
    assert suggest("Dolly-In", ["dolly_in", "dolly_out"]) == "dolly_in"


def test_nothing_close_suggests_nothing() -> None:
    assert suggest("banana", ["dolly_in", "pan_left"]) is None


def test_accepts_any_iterable() -> None:
    assert suggest("promt", (k for k in ("prompt", "duration"))) == "prompt"
