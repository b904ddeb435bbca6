"""Saving a model the way it will be stored, and loading it straight back.

What gets evaluated and gated is the model *after* a save/load round trip, so a
model that does not survive serialisation fails before it is registered, and the
metrics describe exactly the bytes that will be served.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrelease.registry.flavors import Flavor, LoadedModel, flavor_for

__all__ = ["SavedModel", "save_and_load"]


@dataclass(frozen=True)
class SavedModel:
    flavor: Flavor
    path: Path
    # Types the flavor reported for the object this process saved (see SklearnFlavor.save).
    trusted_types: tuple[str, ...]
    loaded: LoadedModel


def save_and_load(model: Any, directory: Path, *, trusted_types: Sequence[str] = ()) -> SavedModel:
    flavor = flavor_for(model)
    path = directory / flavor.filename
    own_types = flavor.save(model, path)
    loaded = flavor.load(path, trusted_types=(*trusted_types, *own_types))
    return SavedModel(flavor=flavor, path=path, trusted_types=own_types, loaded=loaded)
