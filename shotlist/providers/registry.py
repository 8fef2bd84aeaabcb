"""Providers by name: the built-in ones and any that a package adds, found the same way.

A provider is an entry point in the ``shotlist.providers`` group whose object is a
``ProviderEntry``: its capability record (models, limits, token style, prices and
settings, which ``plan`` and ``shotlist providers`` use) and a function that opens a
session. A package adds one without forking shotlist::

    # pyproject.toml of the package
    [project.entry-points."shotlist.providers"]
    acme = "acme_shotlist:ENTRY"

    # acme_shotlist.py
    ENTRY = ProviderEntry(
        capabilities=Capabilities(name="acme", models=(...), ...),
        open=lambda env, store: AcmeProvider(env["ACME_KEY"]),
    )

The entry point's name must equal ``capabilities.name``. The built-in providers are
declared the same way in shotlist's own pyproject.toml; they are also known without
it (a source checkout that was never installed), and their names cannot be taken.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from shotlist.errors import ConfigError
from shotlist.providers import capabilities as caps
from shotlist.providers.capabilities import Capabilities, UnknownName, unknown_name_message

if TYPE_CHECKING:
    from shotlist.providers.base import Provider
    from shotlist.store.cache import Store

GROUP = "shotlist.providers"

Opener = Callable[[Mapping[str, str], "Store"], "Provider"]

# Where the built-in entries live, as pyproject.toml declares them.
BUILTIN: Mapping[str, str] = {
    "local": "shotlist.providers.local:ENTRY",
    "lumenfall": "shotlist.providers.lumenfall:ENTRY",
    "fal": "shotlist.providers.fal:ENTRY",
    "ark": "shotlist.providers.ark:ENTRY",
    "replicate": "shotlist.providers.replicate:ENTRY",
}


@dataclass(frozen=True)
class ProviderEntry:
    """One provider: what it accepts, and how to open a session (None: plan and price only).

    ``open`` receives the environment (settings and keys come only from there) and the
    render's store (for a provider that keeps files or reads the journal).
    """

    capabilities: Capabilities
    open: Opener | None = None


def _load(spec: str) -> ProviderEntry:
    module, _, attribute = spec.partition(":")
    entry = getattr(import_module(module), attribute)
    if not isinstance(entry, ProviderEntry):
        raise TypeError(f"{spec} is not a shotlist ProviderEntry")
    return entry


@functools.cache
def entries() -> Mapping[str, ProviderEntry]:
    """Every provider, built-in ones first (in their documented order), then the rest by name."""
    found = {name: _load(spec) for name, spec in BUILTIN.items()}
    for point in sorted(entry_points(group=GROUP), key=lambda p: p.name):
        if point.name in found:
            continue  # a built-in name, declared by shotlist itself (or taken: ignored)
        entry = point.load()
        if not isinstance(entry, ProviderEntry) or entry.capabilities.name != point.name:
            raise ConfigError(
                f"the {GROUP} entry point {point.name!r} ({point.value}) must be a ProviderEntry "
                f"whose capabilities are named {point.name!r}"
            )
        found[point.name] = entry
    return found


@functools.cache
def names() -> tuple[str, ...]:
    """Every provider's name, built-in ones first. Read without importing any provider's
    module, so that validating and planning start without HTTP clients (issue 17); an
    entry that does not load is reported when it is used."""
    added = sorted({point.name for point in entry_points(group=GROUP)} - set(BUILTIN))
    return (*BUILTIN, *added)


def renderable() -> tuple[str, ...]:
    """The providers that render (the others are planned and priced only)."""
    return tuple(name for name, entry in entries().items() if entry.open is not None)


def entry(name: str) -> ProviderEntry:
    """The provider called ``name``; UnknownName (with the nearest name) otherwise."""
    found = entries()
    if name not in found:
        raise UnknownName(unknown_name_message("provider", name, tuple(found)))
    return found[name]


def capabilities(name: str) -> Capabilities:
    """The capability record of ``name`` (built-in records answer without loading any entry point)."""
    if name in caps.PROVIDERS:
        return caps.capabilities(name)
    return entry(name).capabilities


def open_provider(name: str, env: Mapping[str, str], store: Store) -> Provider:
    """A session with ``name``; ConfigError when it cannot render or a setting is missing."""
    opener = entry(name).open
    if opener is None:
        others = ", ".join(renderable())
        raise ConfigError(f"{name} cannot render; plan with it, or render with --provider {others}")
    return opener(env, store)
