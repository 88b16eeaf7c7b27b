"""Rotated RetinaNet / rotated FCOS: training through the mmengine Runner on
real HRSID tiles, rotated target assignment, and RotatedBoxes predictions."""
import copy
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.runner import Runner
from mmengine.structures import InstanceData

from mmosar.registry import MODELS
from mmosar.structures.bbox import RotatedBoxes

REPO = Path(__file__).resolve().parents[2]
TOY_CONFIG = REPO / ('configs/rotated_retinanet/'
                     'rotated-retinanet-rbox-le90_r18_fpn_toy_hrsid.py')


def toy_cfg(shared_data: Path, work_dir: Path, image_size: int,
            tiles=None) -> Config:
    """The toy config on the HRSID sample tiles, without random flips."""
    cfg = Config.fromfile(str(TOY_CONFIG))
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=0, deterministic=False)
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        dataset = loader.dataset
        dataset.data_root = str(shared_data / 'hrsid') + '/'
        dataset.pipeline = [
            t for t in dataset.pipeline if t['type'] != 'RandomFlip'
        ]
        for t in dataset.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = (image_size, image_size)
        if tiles is not None:
            dataset.indices = tiles
    cfg.test_dataloader = copy.deepcopy(cfg.val_dataloader)
    # iteration-based runs: an infinite sampler avoids mmengine's 2 s pause
    # each time a finite dataloader restarts
    cfg.train_dataloader.sampler = dict(type='InfiniteSampler', shuffle=False)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    cfg.default_hooks.visualization = dict(type='DetVisualizationHook')
    cfg.log_processor = dict(by_epoch=False, window_size=1)
    return cfg


def test_toy_rotated_retinanet_trains_and_predicts_rboxes(
        shared_data, tmp_path):
    cfg = toy_cfg(shared_data, tmp_path, image_size=192)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=5)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler = []
    cfg.optim_wrapper.optimizer.lr = 0.02
    runner = Runner.from_cfg(cfg)
    runner.train()

    losses = runner.message_hub.get_scalar('train/loss').data[0]
    assert len(losses) == 5 and np.isfinite(losses).all()
    # the same two images every iteration: the loss must go down
    assert losses[-2:].mean() < losses[:2].mean() - 0.02, losses

    model = runner.model.eval()
    batch = model.data_preprocessor(next(iter(runner.test_dataloader)))
    with torch.no_grad():
        # the head decodes RotatedBoxes ...
        head_results = model.bbox_head.predict(
            model.extract_feat(batch['inputs']), batch['data_samples'])
        # ... and mmdet's detector stores them as (n, 5) tensors
        # (BaseDetector.add_pred_to_datasample always calls
        # samplelist_boxtype2tensor), as in mmrotate 1.x
        results = model.predict(batch['inputs'], batch['data_samples'])
    assert isinstance(head_results[0].bboxes, RotatedBoxes)
    pred = results[0].pred_instances
    assert pred.bboxes.shape == (len(pred.scores), 5)
    torch.testing.assert_close(pred.bboxes, head_results[0].bboxes.tensor)


@pytest.mark.parametrize('config', [
    'rotated_retinanet/rotated-retinanet-rbox-le90_r50_fpn_1x_dota.py',
    'rotated_retinanet/rotated-retinanet-rbox-le90_r50_fpn_6x_hrsid.py',
    'rotated_retinanet/rotated-retinanet-rbox-le90_r18_fpn_toy_hrsid.py',
    'rotated_fcos/rotated-fcos-le90_r50_fpn_1x_dota.py',
])
def test_configs_build(config):
    cfg = Config.fromfile(str(REPO / 'configs' / config))
    assert cfg.default_scope == 'mmosar'
    assert cfg.model.data_preprocessor.boxtype2tensor is False
    assert cfg.model.test_cfg.nms.type == 'nms_rotated'
    model = MODELS.build(cfg.model)
    assert model.bbox_head.bbox_coder.encode_size == 5
    num_classes = 1 if 'hrsid' in config else 15
    assert model.bbox_head.num_classes == num_classes


def test_rotated_retina_head_decoded_gaussian_loss():
    """reg_decoded_bbox=True: the KLD loss sees decoded rotated boxes."""
    head = MODELS.build(
        dict(
            type='RotatedRetinaHead',
            num_classes=1,
            in_channels=8,
            feat_channels=8,
            stacked_convs=1,
            anchor_generator=dict(
                type='FakeRotatedAnchorGenerator',
                angle_version='le90',
                octave_base_scale=4,
                scales_per_octave=1,
                ratios=[1.0, 0.5],
                strides=[8, 16]),
            reg_decoded_bbox=True,
            loss_cls=dict(type='FocalLoss', use_sigmoid=True),
            loss_bbox=dict(type='GDLoss', loss_type='kld'),
            train_cfg=dict(
                assigner=dict(
                    type='MaxIoUAssigner',
                    pos_iou_thr=0.5,
                    neg_iou_thr=0.4,
                    min_pos_iou=0,
                    iou_calculator=dict(type='RBboxOverlaps2D')),
                sampler=dict(type='PseudoSampler'),
                allowed_border=-1,
                pos_weight=-1,
                debug=False)))
    feats = (torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4))
    gt = InstanceData(
        bboxes=RotatedBoxes(torch.tensor([[30., 30., 40., 12., 0.5]])),
        labels=torch.tensor([0]))
    meta = dict(img_shape=(64, 64), pad_shape=(64, 64))
    losses = head.loss_by_feat(*head(feats), [gt], [meta])
    total = sum(sum(v) for v in losses.values())
    total.backward()
    assert torch.isfinite(total) and sum(losses['loss_bbox']) > 0


def small_fcos_head(**kwargs):
    cfg = dict(
        type='RotatedFCOSHead',
        num_classes=2,
        in_channels=8,
        feat_channels=8,
        stacked_convs=1,
        strides=[8, 16],
        regress_ranges=((-1, 32), (32, 1e8)),
        norm_cfg=None,
        angle_version='le90',
        bbox_coder=dict(type='DistanceAnglePointCoder', angle_version='le90'),
        test_cfg=ConfigDict(
            nms_pre=100,
            score_thr=0.0,
            nms=dict(type='nms_rotated', iou_threshold=0.1),
            max_per_img=10))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_rotated_fcos_targets_follow_the_rotated_box():
    head = small_fcos_head()
    # a thin box along the diagonal: w = 40 along (cos 45deg, sin 45deg)
    box = torch.tensor([[32., 32., 40., 6., math.pi / 4]])
    gt = InstanceData(bboxes=RotatedBoxes(box), labels=torch.tensor([1]))
    points = [torch.tensor([[36., 36.], [36., 28.], [100., 100.]]),
              torch.zeros((0, 2))]
    labels, distances, angles = head.get_targets(points, [gt])
    # (36, 36) lies on the box axis 4*sqrt(2) from the centre: inside;
    # (36, 28) is inside the axis-aligned hull but outside the rotated box.
    assert labels[0].tolist() == [1, 2, 2]
    along = 4 * math.sqrt(2)
    np.testing.assert_allclose(
        distances[0][0].numpy(), [20 + along, 3, 20 - along, 3], atol=1e-4)
    np.testing.assert_allclose(angles[0][0].item(), math.pi / 4, atol=1e-6)


@pytest.mark.parametrize('use_hbbox_loss', [False, True])
def test_rotated_fcos_head_learns_and_predicts_rboxes(use_hbbox_loss):
    torch.manual_seed(0)
    extra = dict(
        use_hbbox_loss=True,
        loss_bbox=dict(type='IoULoss', loss_weight=1.0),
        loss_angle=dict(type='L1Loss', loss_weight=0.2)
    ) if use_hbbox_loss else {}
    head = small_fcos_head(**extra)
    feats = (torch.randn(1, 8, 8, 8), torch.randn(1, 8, 4, 4))
    gt = InstanceData(
        bboxes=RotatedBoxes(
            torch.tensor([[24., 30., 30., 10., 0.4],
                          [44., 40., 50., 20., -1.0]])),
        labels=torch.tensor([0, 1]))
    meta = dict(img_shape=(64, 64), pad_shape=(64, 64), scale_factor=(1, 1))
    optim = torch.optim.SGD(head.parameters(), lr=0.01, momentum=0.9)
    totals = []
    for _ in range(6):
        losses = head.loss_by_feat(*head(feats), [gt], [meta])
        assert ('loss_angle' in losses) == use_hbbox_loss
        total = sum(losses.values())
        optim.zero_grad()
        total.backward()
        optim.step()
        totals.append(total.item())
    assert np.isfinite(totals).all() and totals[-1] < totals[0]

    head.eval()
    with torch.no_grad():
        results = head.predict_by_feat(*head(feats), batch_img_metas=[meta])
    assert isinstance(results[0].bboxes, RotatedBoxes)
    assert 0 < len(results[0].bboxes) <= 10


def test_rotated_fcos_bad_config():
    with pytest.raises(ValueError, match='loss_angle'):
        small_fcos_head(use_hbbox_loss=True)
    with pytest.raises(ValueError, match='use_hbbox_loss'):
        small_fcos_head(separate_angle=True)
    with pytest.raises(ValueError, match='encode_size 5'):
        small_fcos_head(bbox_coder=dict(type='DistancePointBBoxCoder'))


@pytest.mark.slow
def test_toy_rotated_retinanet_overfits_one_hrsid_tile(shared_data, tmp_path):
    """Overfit one HRSID tile (P0135, 6 ships) at 320 px; DOTAMetric AP50 on
    that tile must reach 0.8."""
    cfg = toy_cfg(shared_data, tmp_path, image_size=320, tiles=[1])
    cfg.train_dataloader.batch_size = 1
    cfg.train_cfg = dict(
        type='IterBasedTrainLoop', max_iters=80, val_interval=40)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=10),
        dict(type='MultiStepLR', by_epoch=False, milestones=[65], gamma=0.1)
    ]
    cfg.optim_wrapper = dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
        clip_grad=dict(max_norm=35, norm_type=2))
    cfg.default_hooks.logger.interval = 10
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    print(f'overfit one tile: {metrics}, {time.time() - start:.0f} s')
    assert metrics['dota/AP50'] >= 0.8, metrics
