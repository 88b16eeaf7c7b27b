"""Switch the pipeline of a ``MultiImageMixDataset`` during training.

Used to turn mosaic off for the last epochs (the M4-SAR / YOLO recipe's
``close_mosaic``). mmdet's ``PipelineSwitchHook`` replaces
``dataset.pipeline`` with a ``Compose``, which ``MultiImageMixDataset``
cannot iterate (it walks a list of transforms together with their type
names), so this hook rebuilds both.
"""
from typing import List

from mmdet.datasets import MultiImageMixDataset
from mmengine.hooks import Hook

from mmosar.registry import HOOKS, TRANSFORMS


@HOOKS.register_module()
class MixPipelineSwitchHook(Hook):
    """From epoch ``switch_epoch`` on, train with ``switch_pipeline``.

    Args:
        switch_epoch (int): First (0-based) epoch of the new pipeline, e.g.
            ``max_epochs - 10``.
        switch_pipeline (list[dict]): Transforms applied by the
            ``MultiImageMixDataset`` wrapper after the wrapped dataset's own
            loading pipeline (no mixing transform needed).
    """

    priority = 'NORMAL'

    def __init__(self, switch_epoch: int, switch_pipeline: List[dict]):
        self.switch_epoch = switch_epoch
        self.switch_pipeline = switch_pipeline
        self._switched = False
        self._restart_dataloader = False

    def before_train_epoch(self, runner) -> None:
        loader = runner.train_dataloader
        if runner.epoch >= self.switch_epoch and not self._switched:
            dataset = loader.dataset
            if not isinstance(dataset, MultiImageMixDataset):
                raise TypeError(
                    'MixPipelineSwitchHook needs the train dataset to be a '
                    f'MultiImageMixDataset, got {type(dataset).__name__}')
            runner.logger.info(
                f'Epoch {runner.epoch}: switching the training pipeline to '
                f'{[t["type"] for t in self.switch_pipeline]}')
            dataset.pipeline = [
                TRANSFORMS.build(t) for t in self.switch_pipeline
            ]
            dataset.pipeline_types = [t['type'] for t in self.switch_pipeline]
            if getattr(loader, 'persistent_workers', False):
                # persistent workers hold a copy of the old dataset: restart
                loader._DataLoader__initialized = False
                loader._iterator = None
                self._restart_dataloader = True
            self._switched = True
        elif self._restart_dataloader:
            loader._DataLoader__initialized = True
            self._restart_dataloader = False
