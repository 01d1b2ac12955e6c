"""Several control streams as one synthetic control, weighted on the baseline.

With more than one `--control-stream`, the control of the difference-in-differences
is a weighted combination of them (Abadie's synthetic control): non-negative weights
summing to 1 chosen so that the combination follows the experiment streams' daily
values over the baseline as closely as possible (least squares). For counts each
control is first scaled to the experiment's baseline level (the model is
multiplicative, so a control's level does not matter, only its shape); for means
the values are combined as they are (the model is additive). The same weights make
the control's experiment-window series. Only days on which every control has data
are used. The result reports the weights (stream name -> weight).

tests/test_synthetic.py measures the coverage of the resulting interval under a
shared trend and compares it with a single control.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
from scipy.optimize import nnls  # type: ignore[import-untyped]  # no stubs installed

from tracker.stats import Day

_SUM_PENALTY = 1e3  # the row that holds the weights' sum at 1


def simplex_weights(target: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Weights w >= 0, sum 1, minimising |target - columns @ w| (columns: days x controls)."""
    k = columns.shape[1]
    if k == 1:
        return np.ones(1)
    scale = float(np.abs(target).max()) or 1.0
    A = np.vstack([columns / scale, np.full((1, k), _SUM_PENALTY)])
    b = np.concatenate([target / scale, [_SUM_PENALTY]])
    w, _ = nnls(A, b)
    total = float(w.sum())
    return np.asarray(w / total if total > 0 else np.full(k, 1.0 / k), dtype=np.float64)


def combine(
    kind: str,
    baseline: Sequence[Day],
    controls: Sequence[tuple[Sequence[Day], Sequence[Day]]],
) -> tuple[list[float], tuple[list[Day], list[Day]]]:
    """(weights, (synthetic control's baseline days, its experiment-window days))."""
    maps = [({d.day: d for d in b}, {d.day: d for d in t}) for b, t in controls]
    own = {d.day: d.value for d in baseline}
    base_days = sorted(set(own).intersection(*[set(m[0]) for m in maps]))
    if not base_days:
        return [1.0 / len(controls)] * len(controls), ([], [])
    scales = np.ones(len(controls))
    if kind == "count":
        level = float(np.mean([own[d] for d in base_days]))
        for j, (b, _) in enumerate(maps):
            mean_j = float(np.mean([b[d].value for d in base_days]))
            scales[j] = level / mean_j if mean_j > 0 else 0.0
    target = np.array([own[d] for d in base_days])
    columns = np.array([[maps[j][0][d].value * scales[j] for j in range(len(maps))] for d in base_days])
    w = simplex_weights(target, columns)

    def series(which: int) -> list[Day]:
        days = sorted(set.intersection(*[set(m[which]) for m in maps]))
        out = []
        for d in days:
            parts = [maps[j][which][d] for j in range(len(maps))]
            value = float(sum(w[j] * scales[j] * parts[j].value for j in range(len(parts))))
            if kind == "count":
                out.append(Day(d, value, 1.0))
            else:
                inverse = sum(w[j] ** 2 / parts[j].weight for j in range(len(parts)) if w[j] > 0)
                out.append(Day(d, value, 1.0 / inverse if inverse > 0 else 1.0))
        return out

    return [float(x) for x in w], (series(0), series(1))


def days_of(values: dict[date, float]) -> list[Day]:
    return [Day(d, v) for d, v in sorted(values.items())]
