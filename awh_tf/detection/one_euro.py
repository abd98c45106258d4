"""The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012): an adaptive low-pass filter for noisy
signals — strong smoothing at rest (low jitter), little lag when moving.

Per element, with ``dt`` the time since the previous sample and ``a(f) = 1 / (1 + 1 / (2π f dt))`` the
smoothing factor of a first-order low-pass filter of cutoff f (Hz):

* ``dx = (x − x̂_prev) / dt / scale``, ``dx̂ = a(d_cutoff)·dx + (1 − a(d_cutoff))·dx̂_prev`` (the speed,
  itself low-passed);
* ``cutoff = min_cutoff + beta·|dx̂|``; ``x̂ = a(cutoff)·x + (1 − a(cutoff))·x̂_prev``.

``scale`` makes ``beta`` independent of the signal's unit: keypoints in px are filtered with the hand's size
in px as scale, so the speed is in hand sizes per second (MediaPipe's landmark smoothing normalises by the
object's size the same way). The first sample passes through unchanged.
"""

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class OneEuroParams:
    """``min_cutoff`` Hz (lower: smoother at rest), ``beta`` (higher: less lag when moving) per unit of
    speed in ``scale``s per second, ``d_cutoff`` Hz for the speed estimate."""

    min_cutoff: float = 1.0
    beta: float = 1.0
    d_cutoff: float = 1.0

    def __post_init__(self):
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.beta >= 0):
            raise ValueError(f"One-Euro filter: need min_cutoff, d_cutoff > 0 and beta >= 0, got {self}")


def smoothing_factor(dt, cutoff):
    """``a = 1 / (1 + τ / dt)`` with ``τ = 1 / (2π·cutoff)``: the weight of the new sample."""
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64) * dt))


class OneEuroFilter:
    """A One-Euro filter over an array of any fixed shape (module docstring)."""

    def __init__(self, params=OneEuroParams()):
        self.params = params
        self.reset()

    def reset(self):
        self._x = self._dx = self._t = None

    def __call__(self, x, t, scale=1.0):
        """Filters sample ``x`` taken at time ``t`` (s); returns the filtered array (float64)."""
        x = np.asarray(x, np.float64)
        if self._x is None:
            self._x, self._dx, self._t = x, np.zeros_like(x), float(t)
            return x.copy()
        dt = float(t) - self._t
        if dt <= 0:  # a repeated timestamp carries no new information about the speed
            return self._x.copy()
        p = self.params
        a_d = smoothing_factor(dt, p.d_cutoff)
        self._dx = a_d * (x - self._x) / dt / scale + (1.0 - a_d) * self._dx
        a = smoothing_factor(dt, p.min_cutoff + p.beta * np.abs(self._dx))
        self._x = a * x + (1.0 - a) * self._x
        self._t = float(t)
        return self._x.copy()
