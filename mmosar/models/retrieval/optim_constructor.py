"""Optimizer wrapper constructor giving each group of submodules its own
optimizer (e.g. the CMPC embedder and its Wasserstein critic)."""
from typing import Dict

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict

from mmosar.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SubmoduleOptimWrapperConstructor:
    """Build an :class:`OptimWrapperDict` with one wrapper per submodule group.

    Each entry of ``optim_wrapper_cfg`` is an ordinary optim wrapper config
    plus ``modules``: the names of the model attributes it optimises.
    ``paramwise_cfg`` keys are matched against names like
    ``head.projector.0.weight`` (attribute name first). Every parameter
    must belong to exactly one group. An entry whose submodules are all
    None on the model (e.g. ``critic=None`` in an ablation) is skipped.

    Example::

        optim_wrapper = dict(
            constructor='SubmoduleOptimWrapperConstructor',
            embedder=dict(
                modules=['backbone', 'head'],
                optimizer=dict(type='SGD', lr=0.0025, momentum=0.9),
                paramwise_cfg=dict(
                    custom_keys={'head.projector': dict(lr_mult=10)})),
            critic=dict(
                modules=['critic'],
                optimizer=dict(type='Adam', lr=0.001)))

    Args:
        optim_wrapper_cfg (dict): ``{name: optim wrapper config}``.
        paramwise_cfg (dict, optional): Must be None; give ``paramwise_cfg``
            inside each entry instead.
    """

    def __init__(self, optim_wrapper_cfg: Dict[str, dict],
                 paramwise_cfg=None) -> None:
        if paramwise_cfg is not None:
            raise ValueError('put paramwise_cfg inside each optimizer entry '
                             'of SubmoduleOptimWrapperConstructor')
        self.optim_wrapper_cfg = {
            name: dict(cfg)
            for name, cfg in optim_wrapper_cfg.items()
        }
        for name, cfg in self.optim_wrapper_cfg.items():
            if not cfg.get('modules'):
                raise ValueError(f'optimizer entry "{name}" needs a '
                                 '`modules` list of model attribute names')

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        """Build the wrappers for ``model`` (unwrapped if DDP)."""
        if hasattr(model, 'module'):
            model = model.module
        wrappers, owner = {}, {}
        for name, cfg in self.optim_wrapper_cfg.items():
            cfg = dict(cfg)
            module_names = cfg.pop('modules')
            paramwise_cfg = cfg.pop('paramwise_cfg', None)
            group = nn.ModuleDict()
            for module_name in module_names:
                if not hasattr(model, module_name):
                    raise ValueError(
                        f'optimizer entry "{name}": the model has no '
                        f'submodule "{module_name}"')
                submodule = getattr(model, module_name)
                if submodule is not None:  # disabled part, e.g. critic=None
                    group[module_name] = submodule
            if len(group) == 0:
                continue
            for param in group.parameters():
                if id(param) in owner:
                    raise ValueError(
                        f'a parameter is in both "{owner[id(param)]}" and '
                        f'"{name}" optimizer groups')
                owner[id(param)] = name
            cfg.setdefault('type', 'OptimWrapper')
            wrappers[name] = DefaultOptimWrapperConstructor(
                cfg, paramwise_cfg)(group)
        missing = [
            pname for pname, param in model.named_parameters()
            if param.requires_grad and id(param) not in owner
        ]
        if missing:
            raise ValueError('parameters not covered by any optimizer group: '
                             f'{missing[:5]}...')
        return OptimWrapperDict(**wrappers)
