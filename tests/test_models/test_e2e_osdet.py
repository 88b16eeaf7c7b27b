"""E2E-OSDet assembled from its configs: real optical/SAR pairs, the toy
M4-SAR set through the Runner, the single-stream baselines, ablations."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmosar.registry import MODELS
from mmosar.structures.bbox import RotatedBoxes

REPO = Path(__file__).resolve().parents[2]
TOY_CFG = REPO / 'configs/e2e_osdet/e2e-osdet_yolo11n-obb_toy_m4sar.py'
RECIPE = REPO / 'configs/e2e_osdet/e2e-osdet_yolo11s-obb_300e_m4sar.py'
MODALITIES = dict(optical=3, sar=3)


def tiny_model_cfg(**backbone):
    cfg = Config.fromfile(str(TOY_CFG)).model
    cfg.backbone.update(backbone)
    return cfg


def load_real_pairs(shared_data: Path, size: int = 128, num: int = 2):
    """Optical RGB + grey SAR (replicated to 3 bands) of real pairs, stacked
    as (6, size, size) uint8 tensors, optical first (BGR like the loader)."""
    root = shared_data / '3mos_pairs'
    names = sorted(p.name for p in (root / 'opt').iterdir())[:num]
    images = []
    for name in names:
        optical = cv2.imread(str(root / 'opt' / name), cv2.IMREAD_COLOR)
        sar = cv2.imread(str(root / 'sar' / name), cv2.IMREAD_GRAYSCALE)
        optical = cv2.resize(optical, (size, size))
        sar = cv2.resize(sar, (size, size))
        stacked = np.concatenate(
            [optical, np.repeat(sar[..., None], 3, 2)], axis=2)
        images.append(torch.from_numpy(stacked).permute(2, 0, 1).contiguous())
    return images


def make_samples(num: int, size: int, with_gt: bool = True):
    rng = np.random.default_rng(0)
    samples = []
    for i in range(num):
        sample = DetDataSample(
            metainfo=dict(
                img_shape=(size, size),
                ori_shape=(size, size),
                scale_factor=(1.0, 1.0),
                modality_channels=MODALITIES))
        if with_gt:
            count = 3 if i == 0 else 0  # second image without objects
            boxes = np.concatenate([
                rng.uniform(20, size - 20, (count, 2)),
                rng.uniform(8, 40, (count, 2)),
                rng.uniform(-1.5, 1.5, (count, 1))
            ], 1)
            sample.gt_instances = InstanceData(
                bboxes=RotatedBoxes(torch.tensor(boxes, dtype=torch.float32)),
                labels=torch.tensor(rng.integers(0, 6, count)))
        samples.append(sample)
    return samples


def test_forward_backward_on_real_pairs(shared_data):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg())
    images = load_real_pairs(shared_data)
    data = model.data_preprocessor(
        dict(inputs=images, data_samples=make_samples(2, 128)), True)
    assert data['inputs'].shape == (2, 6, 128, 128)
    assert 0 <= data['inputs'].min() and data['inputs'].max() <= 1
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_dfl'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    backbone = model.backbone
    for part in (backbone.cmims[0], backbone.fusions[2], backbone.streams.sar,
                 model.bbox_head.angle_branches[0]):
        grads = [p.grad for p in part.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)


def test_eval_predictions_are_deterministic_and_use_both_modalities(
        shared_data):
    torch.manual_seed(0)
    cfg = tiny_model_cfg()
    cfg.test_cfg.nms_pre = 200  # scores ~0.5 below: keep NMS small
    model = MODELS.build(cfg).eval()
    for branch in model.bbox_head.cls_branches:  # scores ~0.5, many boxes
        torch.nn.init.zeros_(branch[-1].bias)
    images = load_real_pairs(shared_data, num=1)
    samples = make_samples(1, 128, with_gt=False)
    samples[0].set_metainfo(dict(scale_factor=(0.5, 0.5)))

    def predict(imgs):
        data = model.data_preprocessor(
            dict(inputs=imgs, data_samples=copy.deepcopy(samples)), False)
        with torch.no_grad():
            return model(**data, mode='predict')[0].pred_instances

    first, second = predict(images), predict(images)
    # mmdet detectors return box types as tensors (samplelist_boxtype2tensor)
    assert first.bboxes.shape[1:] == (5, ) and len(first) > 0
    assert len(first) <= 300 and (first.scores >= 0.001).all()
    assert torch.equal(first.bboxes, second.bboxes)
    assert torch.equal(first.scores, second.scores)
    # rescale=True maps to the original image (scale_factor 0.5 -> x2)
    assert first.bboxes[:, :2].max() > 128
    # the SAR bands matter for the two-stream model
    other_sar = [img.clone() for img in images]
    other_sar[0][3:] = 255 - other_sar[0][3:]
    with torch.no_grad():
        feats = [
            model.extract_feat(
                model.data_preprocessor(
                    dict(inputs=imgs, data_samples=copy.deepcopy(samples)),
                    False)['inputs']) for imgs in (images, other_sar)
        ]
    assert all(not torch.allclose(a, b) for a, b in zip(*feats))


@pytest.mark.parametrize('modality', ['optical', 'sar'])
def test_single_stream_baseline_ignores_the_other_modality(modality):
    name = f'yolo11s-obb_{modality}-only_300e_m4sar.py'
    cfg = Config.fromfile(str(REPO / 'configs/e2e_osdet' / name))
    assert cfg.model.backbone.type == 'YOLO11CSPBackbone'
    assert cfg.model.backbone.modality == modality
    model_cfg = tiny_model_cfg()
    model_cfg.backbone = dict(cfg.model.backbone, arch='n', widen_factor=0.125)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).eval()
    x = torch.rand(1, 6, 64, 64)
    y = x.clone()
    other = slice(3, 6) if modality == 'optical' else slice(0, 3)
    y[:, other] = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        feats_x, feats_y = model.extract_feat(x), model.extract_feat(y)
        x[:, slice(0, 3) if modality == 'optical' else slice(3, 6)] = 0
        feats_z = model.extract_feat(x)
    assert all(torch.equal(a, b) for a, b in zip(feats_x, feats_y))
    assert not torch.allclose(feats_x[0], feats_z[0])


def test_recipe_and_one_key_ablations():
    recipe = Config.fromfile(str(RECIPE))
    assert recipe.model.backbone.type == 'TwoStreamBackbone'
    assert recipe.optim_wrapper.type == 'AmpOptimWrapper'
    optimizer = recipe.optim_wrapper.optimizer
    assert (optimizer.lr, optimizer.momentum, optimizer.nesterov,
            optimizer.weight_decay) == (0.01, 0.9, True, 5e-4)
    assert recipe.train_dataloader.batch_size * 2 == \
        recipe.auto_scale_lr.base_batch_size == 64
    switch = [
        h for h in recipe.custom_hooks if h.type == 'MixPipelineSwitchHook'
    ][0]
    assert switch.switch_epoch == recipe.train_cfg.max_epochs - 10
    assert 'PairedMosaic' not in [t.type for t in switch.switch_pipeline]
    for key in ('fam', 'cmim', 'afm'):
        ablation = Config.fromfile(str(RECIPE).replace('.py', f'_wo-{key}.py'))
        assert ablation.model.backbone[f'use_{key}'] is False
        changed = {
            k
            for k in recipe.model.backbone
            if recipe.model.backbone[k] != ablation.model.backbone.get(k)
        }
        assert changed == {f'use_{key}'}
        assert ablation.optim_wrapper == recipe.optim_wrapper


def test_paper_scale_model_parameters():
    """Channel widths of the paper graph (section 1.4) and the head."""
    model = MODELS.build(Config.fromfile(str(RECIPE)).model)
    assert model.backbone.out_channels == (256, 256, 512)
    assert model.neck.out_channels == (128, 256, 512)
    head = sum(p.numel() for p in model.bbox_head.parameters())
    # hand count of YOLO11's OBB head (nc 6, reg_max 16) on (128, 256, 512)
    expected = 0
    for c in (128, 256, 512):
        box = (c * 64 * 9 + 128) + (64 * 64 * 9 + 128) + (64 * 64 + 64)
        cls = (c * 9 + 2 * c) + (c * 128 + 256) + (128 * 9 + 256) + \
            (128 * 128 + 256) + (128 * 6 + 6)
        angle = (c * 32 * 9 + 64) + (32 * 32 * 9 + 64) + (32 + 1)
        expected += box + cls + angle
    assert head == expected


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_single_stream_matches_ultralytics_yolo11s_obb_count():
    # Ultralytics' yolo11-obb.yaml (nc 80) states for scale s: "9744931
    # parameters, 9744915 gradients"; the 16 without gradient are the fixed
    # DFL conv, a buffer-like constant here.
    cfg = Config.fromfile(
        str(REPO / 'configs/e2e_osdet/yolo11s-obb_optical-only_300e_m4sar.py'))
    cfg.model.bbox_head.num_classes = 80
    assert count(MODELS.build(cfg.model)) == 9_744_915


def released_cmim_params(c: int, n: int) -> int:
    """CMIM (``ConMB_SS2D``) of the released code, from its layer list,
    without the layers it builds but never calls."""
    d, r = 2 * c, -(-c // 16)
    return (4 * c * d  # in_proj(_modalx)(_act): four C -> D, no bias
            + 2 * (3 * d + d)  # conv1d(_modalx): depthwise k3 with bias
            + 2 * (r + 2 * n) * d  # x_proj_weight, K = 2
            + 2 * (r * d + d)  # dt_projs weight and bias
            + 2 * d * n + 2 * d  # A_logs, Ds
            + 2 * 2 * d  # out_norm1/2
            + 2 * d * c)  # out_proj(1): D -> C, no bias


def released_afm_params(c: int) -> int:
    """AFM (``MLLABlock`` + ``A_Attn``) of the released code without its
    unused ``norm2`` and ``act_proj_1``."""
    depthwise3 = 9 * c + c
    return (5 * depthwise3  # cpe1, cpe1_1, cpe2, dwc, dwc_1
            + 2 * 2 * c  # norm1, norm1_1
            + 4 * (c * c + c)  # in_proj, in_proj_1, act_proj, out_proj
            + 2 * (3 * c * c + 2 * 3 * c)  # qkv, qkv1: 1x1 conv + BN
            + (c * c + 2 * c)  # proj: 1x1 conv + BN
            + (49 * c + 2 * c))  # pe: 7x7 depthwise conv + BN


def test_e2e_osdet_matches_the_released_graph_count():
    model = MODELS.build(Config.fromfile(str(RECIPE)).model)
    backbone = model.backbone
    for cmim, (c, n) in zip(backbone.cmims, [(256, 16), (256, 16),
                                             (512, 32)]):
        assert count(cmim) == released_cmim_params(c, n)
    for afm, c in zip(backbone.fusions, (256, 256, 512)):
        assert count(afm) == released_afm_params(c)
    # The rest is stock YOLO11s (checked against Ultralytics above): each
    # stream is its backbone up to SPPF, C2PSA/neck/head are shared.
    single = MODELS.build(
        Config.fromfile(str(REPO / 'configs/e2e_osdet/'
                            'yolo11s-obb_optical-only_300e_m4sar.py')).model)
    assert count(backbone.streams.optical) == count(
        backbone.streams.sar) == count(single.backbone) - count(
            single.backbone.c2psa)
    fusion = sum(
        released_cmim_params(c, n)
        for c, n in [(256, 16), (256, 16), (512, 32)]) + sum(
            released_afm_params(c) for c in (256, 256, 512))
    # the single-stream model plus a second stream plus CMIM and AFM
    assert count(model) == count(single) + count(
        backbone.streams.sar) + fusion


@pytest.mark.slow
def test_toy_m4sar_through_the_runner(tmp_path):
    from mmengine.runner import Runner
    data_root = tmp_path / 'toy_m4sar'
    subprocess.run([
        sys.executable,
        str(REPO / 'tools/data/make_toy_m4sar.py'),
        str(data_root), '--num-train', '4', '--num-val', '2', '--num-test',
        '2', '--img-size', '256'
    ],
                   check=True)
    cfg = Config.fromfile(str(TOY_CFG))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(data_root) + '/'
        cfg[loader].batch_size = 2
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.default_hooks.visualization = dict(type='DetVisualizationHook')
    runner = Runner.from_cfg(cfg)
    runner.train()
    logs = [
        json.loads(line) for path in Path(cfg.work_dir).rglob('scalars.json')
        for line in path.read_text().splitlines()
    ]
    train_logs = [log for log in logs if 'loss_cls' in log]
    assert len(train_logs) == 2
    for log in train_logs:
        for key in ('loss', 'loss_cls', 'loss_bbox', 'loss_dfl'):
            assert np.isfinite(log[key]) and log[key] > 0
    val_logs = [log for log in logs if 'm4sar/mAP' in log]
    assert val_logs and 'dota/mAP' in val_logs[0]


@pytest.mark.parametrize('device,dtype', [
    ('cpu', torch.bfloat16),
    pytest.param(
        'cuda',
        torch.float16,
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(),
            reason='needs a CUDA GPU (none here)')),
])
def test_training_step_under_autocast(device, dtype):
    """Mixed precision as AmpOptimWrapper runs it: every loss finite (the
    ProbIoU determinants overflowed float16 before they were computed in
    float32), gradients reach CMIM, predictions decode."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg()).to(device)
    images = [
        torch.randint(0, 256, (6, 128, 128), dtype=torch.uint8)
        for _ in range(2)
    ]
    data = model.data_preprocessor(
        dict(inputs=images, data_samples=make_samples(2, 128)), True)
    assert data['inputs'].device.type == device
    with torch.autocast(device, dtype=dtype):
        losses = model(**data, mode='loss')
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    grads = [p.grad for p in model.backbone.cmims[0].parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.eval()
    with torch.no_grad(), torch.autocast(device, dtype=dtype):
        data = model.data_preprocessor(
            dict(inputs=images, data_samples=make_samples(2, 128, False)),
            False)
        result = model(**data, mode='predict')[0].pred_instances
    assert result.bboxes.device.type == device
    assert result.bboxes.shape[1:] == (5, )
