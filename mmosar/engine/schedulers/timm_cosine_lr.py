"""timm's cosine learning-rate schedule with linear warm-up (per epoch)."""
import math
from typing import List

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from mmosar.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class TimmCosineLR(LRSchedulerMixin, _ParamScheduler):
    """timm ``CosineLRScheduler`` (one cycle), as TransOSS trains with it.

    Steps are numbered from ``t = 1`` (the first epoch, or iteration with
    ``by_epoch=False``). For a parameter group with initial learning rate
    ``b``, the rate during step ``t`` is

    .. math::

        \\eta(t) = \\begin{cases}
            w_0 + t\\,(b - w_0) / T_w & t < T_w \\\\
            \\eta_{min} + \\tfrac12 (b - \\eta_{min})
                (1 + \\cos(\\pi t / T)) & T_w \\le t < T \\\\
            \\eta_{min} & t \\ge T
        \\end{cases}

    with ``w_0 = warmup_lr_init``, ``T_w = warmup_t``, ``T = t_initial``.
    The cosine is **not** shifted by the warm-up (timm's
    ``warmup_prefix=False``) and ``eta_min`` / ``warmup_lr_init`` are
    absolute rates shared by all groups (so a group with a 2x rate warms up
    from the same ``w_0``), as in the release. With the released
    ``w_0 = 0.01 b``, ``eta_min = 0.002 b`` and ``T_w = 5``, epoch 1 runs
    at 0.208 b, and epoch 30 of 60 at 0.501 b.

    Args:
        optimizer (Optimizer | OptimWrapper): Wrapped optimizer.
        t_initial (int): Cycle length ``T`` (the number of epochs).
        eta_min (float): Final rate (absolute).
        warmup_t (int): Warm-up steps ``T_w``. Defaults to 5.
        warmup_lr_init (float): Warm-up start ``w_0`` (absolute).
        begin (int): First step (0-based) the scheduler acts on.
        end (int): Step after the last one it acts on.
        last_step (int): See mmengine's ``_ParamScheduler``.
        by_epoch (bool): Step per epoch (the release) or per iteration.
        verbose (bool): Print each update.
    """

    def __init__(self,
                 optimizer,
                 t_initial: int,
                 eta_min: float,
                 warmup_t: int = 5,
                 warmup_lr_init: float = 0.,
                 begin: int = 0,
                 end: int = INF,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False) -> None:
        if t_initial <= 0 or warmup_t < 0 or eta_min < 0:
            raise ValueError(
                f'need t_initial > 0, warmup_t >= 0, eta_min >= 0; got '
                f'{t_initial}, {warmup_t}, {eta_min}')
        self.t_initial = t_initial
        self.eta_min = eta_min
        self.warmup_t = warmup_t
        self.warmup_lr_init = warmup_lr_init
        super().__init__(
            optimizer,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    def rate(self, base: float, t: int) -> float:
        """``eta(t)`` for a group with initial rate ``base``."""
        if t < self.warmup_t:
            return self.warmup_lr_init + t * (
                base - self.warmup_lr_init) / self.warmup_t
        if t >= self.t_initial:
            return self.eta_min
        return self.eta_min + 0.5 * (base - self.eta_min) * (
            1 + math.cos(math.pi * t / self.t_initial))

    def _get_value(self) -> List[float]:
        t = self.last_step + 1
        return [self.rate(base, t) for base in self.base_values]
