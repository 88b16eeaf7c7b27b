"""Upstream fixes in mmosar.utils.compat, each checked against the failure it
fixes (the stock mmengine / torch behaviour is reproduced in the test)."""
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
from torch.utils.data import Dataset

from mmosar.utils import compat


class _PointDataset(Dataset):

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        x = torch.full((3, ), float(index))
        return dict(x=x, y=x.sum(0, keepdim=True))


class _LinearModel(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 1)

    def forward(self, x, y, mode='loss'):
        x, y = torch.stack(x), torch.stack(y)
        return dict(loss=((self.linear(x) - y)**2).mean())


def _runner(work_dir, max_epochs: int, **kwargs) -> Runner:
    return Runner(
        model=_LinearModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_PointDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            num_workers=0),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=1e-3, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1]),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        default_scope='mmengine',
        **kwargs)


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('ckpt')
    _runner(work_dir, max_epochs=1).train()
    return work_dir


def test_stock_torch_load_refuses_mmengine_checkpoints(runner_checkpoint):
    # What the fix is for: torch>=2.6 defaults to weights_only=True and an
    # mmengine checkpoint holds a HistoryBuffer.
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer|numpy'):
        torch.load(runner_checkpoint / 'epoch_1.pth')


def test_checkpoint_loads_with_weights_only(runner_checkpoint):
    checkpoint = _load_checkpoint(str(runner_checkpoint / 'epoch_1.pth'))
    buffer = checkpoint['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert np.isfinite(buffer.current())
    assert checkpoint['meta']['epoch'] == 1


def test_resume_continues_training(runner_checkpoint, tmp_path):
    for name in ('epoch_1.pth', 'last_checkpoint'):
        (tmp_path / name).write_bytes((runner_checkpoint / name).read_bytes())
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    runner = _runner(tmp_path, max_epochs=2, resume=True)
    runner.train()
    assert runner.epoch == 2
    assert (tmp_path / 'epoch_2.pth').is_file()


class _RunsShell:

    def __reduce__(self):
        return (os.system, ('echo unsafe',))


class _ReachesInit:

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


@pytest.mark.parametrize('payload, offending', [
    (_RunsShell(), 'system'),
    (_ReachesInit(), "getattr(HistoryBuffer, '__init__')"),
])
def test_tampered_checkpoint_is_refused(tmp_path, payload, offending):
    path = tmp_path / 'tampered.pth'
    torch.save({'state_dict': {}, 'meta': payload}, path)
    with pytest.raises(compat.UnsafeCheckpointError) as info:
        _load_checkpoint(str(path))
    message = str(info.value)
    assert str(path) in message and offending in message


def test_every_scheme_is_guarded():
    for loader in CheckpointLoader._schemes.values():
        assert getattr(loader, '_mmosar_guarded', False)


def test_weights_only_is_not_disabled_globally():
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') in (None, '0')


def test_in1d_shim_matches_the_numpy_1_definition():
    shim = compat.numpy_with_removed_aliases()
    # numpy 1.x: in1d(a, b) = isin over the flattened a; hand-worked
    a = np.array([[1, 5], [3, 1]])
    assert shim.in1d(a, [1, 3]).tolist() == [True, False, True, True]
    assert shim.in1d(a, [1], invert=True).tolist() == [False, True, True,
                                                        False]
    assert shim.isin is np.isin  # everything else is numpy itself


def test_mmpretrain_retrieval_recall_on_numpy_without_in1d():
    from mmpretrain.evaluation.metrics import RetrievalRecall

    # Hand-worked: sample 0 ranks its target (2) first, sample 1 finds
    # its target (0) only at rank 3.
    pred = torch.tensor([[0.1, 0.2, 0.9, 0.0], [0.3, 0.8, 0.1, 0.5]])
    target = [torch.tensor([2]), torch.tensor([0])]
    recall = RetrievalRecall.calculate(pred, target, topk=(1, 3),
                                       target_indices=True)
    assert [float(r) for r in recall] == [50.0, 100.0]
    if not hasattr(np, 'in1d'):  # numpy >= 2.4: the shim is what works here
        from mmpretrain.evaluation.metrics import retrieval
        assert retrieval.np is not np


def test_cpu_ddp_wrapper_drops_device_ids():
    import torch.distributed as dist
    from mmengine.model.wrappers import MMDistributedDataParallel
    if dist.is_initialized():
        pytest.skip('a process group already exists')
    dist.init_process_group(
        'gloo', init_method='tcp://127.0.0.1:29533', rank=0, world_size=1)
    try:
        # stock mmengine passes device_ids=[LOCAL_RANK]; torch refuses them
        # for a CPU module
        wrapped = MMDistributedDataParallel(
            module=nn.Linear(2, 1), device_ids=[0], broadcast_buffers=False)
        assert wrapped.device_ids is None
    finally:
        dist.destroy_process_group()


def test_mmdet_rotated_nms_uses_exact_iou():
    """A box and the same box slid 0.41 px along its short side.

    True IoU (w - s) / (w + s) = 0.8997 (checked with shapely below), but
    mmcv 2.1's box_iou_rotated returns 0 for this float32 pair, so stock
    `batched_nms(type='nms_rotated')` keeps the duplicate.
    """
    from mmcv.ops import batched_nms
    from shapely.geometry import Polygon

    from mmosar.structures.bbox import rbox2qbox
    boxes = torch.tensor(
        [[80.09723663330078, 24.391029357910156, 7.7564167976379395,
          32.08211898803711, -1.0604995489120483],
         [80.29733276367188, 24.033552169799805, 7.7564167976379395,
          32.08211898803711, -1.0604995489120483]])
    first, second = (Polygon(q) for q in rbox2qbox(boxes).view(
        2, 4, 2).double().numpy())
    true_iou = first.intersection(second).area / first.union(second).area
    assert true_iou > 0.89
    _, keep = batched_nms(
        boxes, torch.tensor([0.9, 0.8]), torch.zeros(2, dtype=torch.long),
        dict(type='nms_rotated', iou_threshold=0.5))
    assert keep.tolist() == [0]
