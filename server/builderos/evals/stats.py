"""Pass rates with a confidence interval, so three lucky runs are not read as certainty."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(passes: int, runs: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a pass rate (95% by default); (0, 1) when nothing ran."""
    if runs <= 0:
        return (0.0, 1.0)
    p = passes / runs
    denom = 1 + z * z / runs
    centre = (p + z * z / (2 * runs)) / denom
    half = z * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs)) / denom
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))
