"""Learning-rate schedules: multipliers ``eta_t`` that the training loop hands the optimiser.

A schedule is called as ``schedule(epoch, total_epochs) -> eta_t`` where ``epoch`` is the
(fractional) number of epochs done so far, so the multiplier changes smoothly batch by batch.
The optimiser scales its step by ``eta_t`` (``opt.step(params, grads, lr_mult=eta_t)``);
for AdamW it scales both the Adam step and the decoupled weight decay (Loshchilov & Hutter 2019,
Algorithm 2).

``constant``   ``eta_t = 1``
``step``       ``eta_t = gamma ** floor(epoch / step_size)``
``cosine``     half a cosine from 1 to 0 over the training, no restarts
               (Loshchilov & Hutter 2017, SGDR, with a single cycle):
               ``eta_t = (1 + cos(pi * (epoch - warmup) / (total - warmup))) / 2``
``warm_restarts``  SGDR (Loshchilov & Hutter 2017, eq. 5 with ``eta_min = 0``): half a
               cosine from 1 to 0 in each of ``cycles`` cycles, each ``mult`` times longer
               than the one before (``T_i = T_0 mult^i``), the last ending at ``total``;
               the multiplier jumps back to 1 at each restart:
               ``eta_t = (1 + cos(pi * T_cur / T_i)) / 2``

Every schedule takes an optional linear warm-up over the first ``warmup`` epochs
(``eta_t = epoch / warmup`` there, Goyal et al. 2017), then follows its rule.

Examples
--------
>>> from models.schedules import Cosine, Step
>>> Step(step_size=10, gamma=0.5)(25, 100)
0.25
>>> [round(Cosine(warmup=2)(e, 10), 3) for e in (1, 2, 6, 10)]
[0.5, 1.0, 0.5, 0.0]
>>> [round(WarmRestarts(cycles=3, mult=2)(e, 70), 3) for e in (0, 5, 10, 20, 30, 50, 70)]
[1.0, 0.5, 1.0, 0.5, 1.0, 0.5, 0.0]
"""

import math

__all__ = ["SCHEDULES", "Constant", "Cosine", "Step", "WarmRestarts", "get"]


class _Schedule:
    def __init__(self, warmup=0):
        self.warmup = warmup

    def __call__(self, epoch, total_epochs):
        """The multiplier ``eta_t`` after ``epoch`` (fractional) of ``total_epochs`` epochs."""
        if epoch < self.warmup:
            return epoch / self.warmup
        return self._after_warmup(epoch - self.warmup, max(total_epochs - self.warmup, 1))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Constant(_Schedule):
    """``eta_t = 1`` (after the optional warm-up)."""

    def _after_warmup(self, epoch, total):
        return 1.0


class Step(_Schedule):
    """``eta_t = gamma ** floor(epoch / step_size)``: multiply by ``gamma`` every ``step_size``
    epochs (counted after the warm-up)."""

    def __init__(self, step_size=30, gamma=0.1, warmup=0):
        super().__init__(warmup)
        self.step_size = step_size
        self.gamma = gamma

    def _after_warmup(self, epoch, total):
        return self.gamma ** math.floor(epoch / self.step_size)


class Cosine(_Schedule):
    """Half a cosine from 1 down to 0 at ``total_epochs``, without restarts."""

    def _after_warmup(self, epoch, total):
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch / total, 1.0)))


class WarmRestarts(_Schedule):
    """Cosine annealing with warm restarts (SGDR): ``cycles`` half cosines from 1 to 0, each
    ``mult`` times longer than the one before, the last ending at ``total_epochs``.

    The first cycle lasts ``T_0 = total (mult - 1) / (mult^cycles - 1)`` epochs (``total /
    cycles`` for ``mult=1``); the paper's ``T_0 = 10, T_mult = 2`` over 70 epochs is
    ``WarmRestarts(cycles=3, mult=2)`` with ``total_epochs=70``. Past the end it stays 0.
    """

    def __init__(self, cycles=3, mult=2, warmup=0):
        super().__init__(warmup)
        self.cycles = cycles
        self.mult = mult

    def _after_warmup(self, epoch, total):
        if epoch >= total:
            return 0.0
        if self.mult == 1:
            length = total / self.cycles
        else:
            length = total * (self.mult - 1) / (self.mult**self.cycles - 1)
        start = 0.0
        for _ in range(self.cycles - 1):  # (the last cycle ends at total, whatever rounding)
            if epoch < start + length:
                break
            start += length
            length *= self.mult
        return 0.5 * (1.0 + math.cos(math.pi * min((epoch - start) / length, 1.0)))


SCHEDULES = {
    "constant": Constant,
    "step": Step,
    "cosine": Cosine,
    "warm_restarts": WarmRestarts,
}


def get(name, **hyper):
    """Return the schedule called ``name`` built with ``hyper``.

    Examples
    --------
    >>> get("step", step_size=5)
    Step(warmup=0, step_size=5, gamma=0.1)
    """
    if name not in SCHEDULES:
        raise ValueError(f"Unknown schedule {name!r}; expected one of {sorted(SCHEDULES)}.")
    return SCHEDULES[name](**hyper)
