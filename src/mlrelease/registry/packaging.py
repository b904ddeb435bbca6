"""Saving a model the way it will be stored, and loading it straight back.

What gets evaluated and gated is the model *after* a save/load round trip, so a
model that does not survive serialisation fails before it is registered, and the
metrics describe exactly the bytes that will be served.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlrelease.registry.flavors import Flavor, LoadedModel, flavor_for
from mlrelease.registry.flavors.linear import LinearForm
from mlrelease.registry.flavors.sklearn import SklearnModel

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SavedModel", "linear_form", "save_and_load"]


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


def linear_form(saved: SavedModel, sample: pd.DataFrame) -> LinearForm | None:
    """The saved model's linear form, if it is a plain linear scikit-learn model with
    numeric inputs whose numpy arithmetic answers as it does (see flavors.linear)."""
    if not isinstance(saved.loaded, SklearnModel):
        return None
    if any(dtype.kind not in "iuf" for dtype in sample.dtypes):
        return None
    return LinearForm.verified(saved.loaded.estimator, [str(name) for name in sample.columns])
