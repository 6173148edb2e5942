"""The waves of a fleet rollout: how an administrator writes them, their normalised form
in `rollouts.waves`, and how many stores each takes.

A wave is a cumulative size: a count of stores (`1`, `"10"`) or a percentage of the
stores the rollout picked (`"5%"`, whole numbers from 1 to 100). Wave n takes the stores
from the end of wave n-1 up to its size (a percentage rounds up, so `"5%"` of 50 stores
is 3); the last wave must be `"100%"`, so no store is forgotten. `[1, "5%", "25%",
"100%"]` is the default: one canary, then a few, then a quarter, then the rest.

Pure. Called by the gateway (`parse_waves`, refusing a bad list with `WaveError`) and the
reaper's rollout planning (`wave_ends`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

DEFAULT_WAVES = ("1", "5%", "25%", "100%")
MAX_WAVES = 20
MAX_COUNT = 100_000


class WaveError(ValueError):
    """A wave list an administrator sent that cannot be a rollout's."""


def parse_wave(value: object) -> str:
    """One wave in its normalised spelling: `"7"` or `"25%"`."""
    if isinstance(value, bool):
        raise WaveError(f"wave {value!r} is neither a count nor a percentage")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str) and len(value) <= 8:
        text = value.strip()
    else:
        raise WaveError('a wave is a count (1) or a percentage ("5%")')
    number, percent = (text[:-1], True) if text.endswith("%") else (text, False)
    if not (number.isascii() and number.isdigit()):
        raise WaveError(f"wave {value!r} is neither a count nor a whole percentage")
    size = int(number)
    if percent and not 1 <= size <= 100:
        raise WaveError(f"wave {value!r}: a percentage is from 1% to 100%")
    if not percent and not 1 <= size <= MAX_COUNT:
        raise WaveError(f"wave {value!r}: a count is from 1 to {MAX_COUNT}")
    return f"{size}%" if percent else str(size)


def parse_waves(values: Sequence[object]) -> tuple[str, ...]:
    """The normalised waves; `WaveError` unless 1 to MAX_WAVES, ending with 100%."""
    if not 1 <= len(values) <= MAX_WAVES:
        raise WaveError(f"give from 1 to {MAX_WAVES} waves")
    waves = tuple(parse_wave(v) for v in values)
    if waves[-1] != "100%":
        raise WaveError('the last wave must be "100%", so every store is upgraded')
    return waves


def wave_ends(waves: Sequence[str], stores: int) -> tuple[int, ...]:
    """How many of `stores` stores are in waves 0..n together, for each wave n."""
    ends, reached = [], 0
    for wave in waves:
        size = math.ceil(stores * int(wave[:-1]) / 100) if wave.endswith("%") else int(wave)
        reached = max(reached, min(size, stores))
        ends.append(reached)
    return tuple(ends)
