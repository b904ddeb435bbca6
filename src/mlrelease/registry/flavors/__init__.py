"""Model flavors: how a trained model is saved to one file and loaded back.

A flavor is chosen from the model object when it is registered (:func:`flavor_for`)
and recorded by name, so loading uses the same one (:func:`get_flavor`). Whatever
the flavor, a loaded model answers :class:`LoadedModel`: predictions from a DataFrame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from numpy.typing import NDArray

from mlrelease.errors import ConfigError
from mlrelease.registry.flavors.function import FunctionFlavor, is_entrypoint
from mlrelease.registry.flavors.sklearn import SklearnFlavor

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FUNCTION", "SKLEARN", "Flavor", "LoadedModel", "flavor_for", "get_flavor"]


class LoadedModel(Protocol):
    """A model ready to predict, whatever flavor it was saved with."""

    @property
    def flavor(self) -> str: ...

    @property
    def classes(self) -> list[Any] | None:
        """Class labels, in ``predict_proba`` column order, for classifiers; else None."""
        ...

    def predict(self, X: pd.DataFrame) -> NDArray[Any]: ...

    def predict_proba(self, X: pd.DataFrame) -> NDArray[Any] | None:
        """Class probabilities, or None when the model has none."""
        ...

    def predict_with_proba(self, X: pd.DataFrame) -> tuple[NDArray[Any], NDArray[Any] | None]:
        """Both at once: what a classifier's server needs, in as few calls as possible."""
        ...

    def accept_matrices(self, columns: Sequence[str]) -> bool:
        """Whether, from now on, the model takes float64 matrices with ``columns`` in order
        (cheaper than DataFrames) and answers them exactly as it answers frames."""
        ...


class Flavor(Protocol):
    """Saves one kind of model to a single file and loads it back."""

    @property
    def name(self) -> str: ...

    @property
    def filename(self) -> str:
        """The file name the artifact is stored under, e.g. ``model.skops``."""
        ...

    def save(self, model: Any, path: Path) -> tuple[str, ...]:
        """Write ``model`` to ``path``; returns the types its loading must trust."""
        ...

    def load(self, path: Path, *, trusted_types: Sequence[str] = ()) -> LoadedModel: ...


SKLEARN: Flavor = SklearnFlavor()
FUNCTION: Flavor = FunctionFlavor()
_FLAVORS: dict[str, Flavor] = {flavor.name: flavor for flavor in (SKLEARN, FUNCTION)}

_SUPPORTED = (
    "a scikit-learn estimator (including a Pipeline or a search's best_estimator_), "
    "a module-level function, a 'module:function' string, or a mapping "
    "{'predict': ..., 'predict_proba': ...} of those"
)


def flavor_for(model: Any) -> Flavor:
    """The flavor that saves ``model``.

    Raises:
        ConfigError: no flavor supports this kind of object.
    """
    from sklearn.base import BaseEstimator  # on use: importing scikit-learn takes a second

    if isinstance(model, BaseEstimator):
        return SKLEARN
    if isinstance(model, str):
        if is_entrypoint(model):
            return FUNCTION
        raise ConfigError(
            f"Model {model!r} is a string but not of the form 'package.module:function'. "
            f"Supported models: {_SUPPORTED}."
        )
    if isinstance(model, Mapping) or (callable(model) and not isinstance(model, type)):
        return FUNCTION
    raise ConfigError(f"No flavor can save a {type(model).__name__}. Supported: {_SUPPORTED}.")


def get_flavor(name: str) -> Flavor:
    """The flavor recorded as ``name``.

    Raises:
        ConfigError: ``name`` is not a known flavor.
    """
    try:
        return _FLAVORS[name]
    except KeyError:
        raise ConfigError(
            f"Unknown model flavor {name!r}; known flavors: {', '.join(sorted(_FLAVORS))}."
        ) from None
