"""The local previz engine (``engine.py``) and its parts; ``ENTRY`` registers it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from shotlist.providers.capabilities import LOCAL
from shotlist.providers.registry import ProviderEntry

if TYPE_CHECKING:
    from shotlist.providers.base import Provider
    from shotlist.store.cache import Store


def open_local(_env: Mapping[str, str], store: Store) -> Provider:
    # Imported here: listing providers must not load the engine and its ffmpeg graphs.
    from shotlist.providers.local.engine import LocalProvider

    return LocalProvider(store.root / "local")


ENTRY = ProviderEntry(LOCAL, open_local)
