"""Loading the modules named in `VIRTA_PLUGINS` (service operations of a deployment)."""

from __future__ import annotations

import importlib

from engine.settings import Settings


def load_plugins(settings: Settings) -> list[str]:
    """Import every plugin module; returns their names. Raises ImportError for a bad name."""
    names = settings.plugin_modules()
    for name in names:
        importlib.import_module(name)
    return names
