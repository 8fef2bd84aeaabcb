"""The local previz engine (``engine.py``) and its parts; ``ENTRY`` registers it.

``LOCAL_ENGINE_VERSION`` lives here rather than in ``engine.py`` so planning can mix it
into local shots' hashes without importing the engine. Bump it whenever the engine's
output bytes change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from shotlist.providers.capabilities import LOCAL
from shotlist.providers.registry import ProviderEntry

if TYPE_CHECKING:
    from shotlist.providers.base import Provider
    from shotlist.store.cache import Store

LOCAL_ENGINE_VERSION = "1"


def open_local(_env: Mapping[str, str], store: Store) -> Provider:
    # Imported here: listing providers must not load the engine and its ffmpeg graphs.
    from shotlist.providers.local.engine import LocalProvider

    return LocalProvider(store.root / "local")


ENTRY = ProviderEntry(LOCAL, open_local)
