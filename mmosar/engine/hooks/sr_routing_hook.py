"""Gradient routing of SDCoNet: the SR branch joins training at an epoch."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmosar.registry import HOOKS


@HOOKS.register_module()
class SRRoutingHook(Hook):
    """Turn the SR branch of an SDCoNet model on from ``switch_epoch``.

    Phase 1 (epochs ``< switch_epoch``): the SR decoder does not run, so it
    gets no gradient and is not updated, and no SR loss is computed: the
    shared encoder learns detection semantics only. Phase 2: the decoder
    trains and the L1 SR loss is added (its gradient reaches the shared
    encoder, scaled by the model's ``sr_encoder_grad_scale``). The state is
    set before every training epoch, so resuming in either phase is
    correct. The decoder's parameters stay in the optimizer (and in DDP,
    with ``find_unused_parameters=True``) throughout, so nothing is rebuilt
    at the switch.

    Args:
        switch_epoch: First (0-based) epoch with the SR branch on (16 in
            SDCoNet).
    """

    priority = 'NORMAL'

    def __init__(self, switch_epoch: int = 16) -> None:
        if switch_epoch < 0:
            raise ValueError(f'switch_epoch must be >= 0, got {switch_epoch}')
        self.switch_epoch = switch_epoch

    def before_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not hasattr(model, 'set_sr_enabled'):
            raise TypeError(
                'SRRoutingHook needs a model with set_sr_enabled (e.g. '
                f'SDCoNet), got {type(model).__name__}')
        enabled = runner.epoch >= self.switch_epoch
        if enabled != model.sr_enabled:
            runner.logger.info(
                f'SRRoutingHook: SR branch {"on" if enabled else "off"} '
                f'from epoch {runner.epoch}')
        model.set_sr_enabled(enabled)
