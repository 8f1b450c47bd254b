"""Late fusion of regressors: the weighted mean of several models' predicted dimension values
(:func:`weighted_mean`), what ``voxpop fuse`` does with the runs of continuous label sets (classifiers are fused
by Dirichlet weights per class, :func:`voxpop.evaluation.tuning.fusion_per_fold`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from voxpop.core.errors import ConfigError
from voxpop.evaluation.tuning import common_folds


def fusion_weights(names: list[str], given: Mapping[str, float] | None = None) -> pd.Series:
    """Each input's weight, normalised to sum 1: ``given`` (input name -> non-negative weight), or equal weights.

    Args:
        names: the inputs in order.
        given: weights by input name (all of them, or None for 1 / M each).

    Returns:
        The weights indexed by input name, summing to 1.

    Raises:
        ConfigError: a name that is not an input, an input without a weight, a negative or non-finite weight or
            weights summing to 0.

    Example:
        >>> fusion_weights(["a", "b"], {"a": 3, "b": 1}).tolist()
        [0.75, 0.25]
    """
    if not given:
        return pd.Series(1.0 / len(names), index=names, dtype=float)
    unknown = [n for n in given if n not in names]
    missing = [n for n in names if n not in given]
    if unknown or missing:
        raise ConfigError(
            f"fusion weights: {'unknown inputs ' + str(unknown) if unknown else ''}"
            f"{'; ' if unknown and missing else ''}{'no weight for ' + str(missing) if missing else ''}; "
            f"give one weight per input ({', '.join(names)}), e.g. --weight {names[0]}=1"
        )
    values = pd.Series({n: float(given[n]) for n in names}, dtype=float)
    if not np.isfinite(values).all() or (values < 0).any() or values.sum() <= 0:
        raise ConfigError(f"fusion weights {values.to_dict()}: give non-negative numbers with a positive sum")
    return values / values.sum()


def weighted_mean(predictions: Mapping[str, pd.DataFrame], weights: pd.Series) -> pd.DataFrame:
    """The fused prediction of regressors: per item and dimension ``sum_m w_m * y_m`` (``weights`` sum to 1).

    Args:
        predictions: per input, items x dimensions (and an optional ``fold`` column); every input must predict
            the same dimensions.
        weights: per input its weight (:func:`fusion_weights`).

    Returns:
        Items predicted by every input (in the first input's order) x dimensions, with the common ``fold`` column
        when the inputs are out-of-fold predictions of the same folds.

    Raises:
        ConfigError: inputs of different dimensions.
        InputError: as :func:`voxpop.evaluation.tuning.common_folds` (folds that differ, no common item).

    Example:
        >>> a = pd.DataFrame({"arousal": [1.0, 3.0]}, index=["i1", "i2"])
        >>> b = pd.DataFrame({"arousal": [5.0, 1.0]}, index=["i1", "i2"])
        >>> weighted_mean({"a": a, "b": b}, fusion_weights(["a", "b"], {"a": 3, "b": 1}))["arousal"].tolist()
        [2.0, 2.5]
    """
    columns = {name: [c for c in table.columns if c != "fold"] for name, table in predictions.items()}
    first_name, dimensions = next(iter(columns.items()))
    differing = {name: dims for name, dims in columns.items() if dims != dimensions}
    if differing:
        raise ConfigError(
            f"{first_name} predicts {dimensions} but {differing}; fuse regressors of the same dimensions"
        )
    folds = common_folds(predictions)
    items = next(iter(predictions.values())).index
    for table in predictions.values():
        items = items[items.isin(table.index)]
    fused = sum(weights[name] * table.loc[items, dimensions].to_numpy(float) for name, table in predictions.items())
    result = pd.DataFrame(fused, index=items, columns=dimensions)
    return result if folds is None else result.assign(fold=folds.reindex(items).to_numpy())
