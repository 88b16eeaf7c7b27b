"""TransOSS configs against the released recipe: resize per phase (PIL
itself as the reference), SAR scaling, learning-rate schedule, batches."""
import math
import random

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms as T
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from PIL import Image

from mmosar.datasets.transforms.reid_chip import LoadShipChip
from mmosar.registry import MODELS, PARAM_SCHEDULERS, TRANSFORMS

HOSS = 'configs/transoss/transoss_vit-b16_p8k4-200e_hoss.py'
PRETRAIN = 'configs/transoss/transoss_vit-b16_4xb128-60e_optisar-pair-' \
    'pretrain.py'
PRETRAIN_PRE_FIX = 'configs/transoss/transoss_vit-b16_4xb512-60e_' \
    'optisar-pair-pretrain.py'


def _resize_step(pipeline):
    steps = [s for s in pipeline if s['type'] == 'Resize']
    assert len(steps) == 1
    return TRANSFORMS.build(steps[0])


@pytest.mark.parametrize('phase,released', [
    ('test_pipeline', T.Resize([256, 128])),
    ('train_pipeline', T.Resize([256, 128], interpolation=3)),
])
@pytest.mark.parametrize('src_hw', [(300, 52), (120, 40)])  # down / up
def test_resize_equals_released_pil_resize(repo_root, phase, released,
                                           src_hw):
    """The released transform (torchvision Resize on a PIL image, i.e. PIL
    antialiased bilinear at test and bicubic at train) is the reference."""
    cfg = Config.fromfile(repo_root / HOSS)
    resize = _resize_step(cfg[phase])
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=src_hw + (3, ), dtype=np.uint8)
    expected = np.asarray(released(Image.fromarray(rgb)))
    # mmosar keeps BGR (cv2 loading); resizing is per channel.
    out = resize(dict(img=np.ascontiguousarray(rgb[..., ::-1]),
                      img_shape=src_hw))['img']
    assert out.shape == (256, 128, 3)
    np.testing.assert_array_equal(out[..., ::-1], expected)


def test_sar_scaling_in_float32_as_released(tmp_path):
    """float32 division and truncation, as the release's sar32bit2RGB:
    772.549 / 1000 * 255 is 197.0000x in float32 (196.99999x in float64)."""
    sar = np.array([[772.5490112304688, 1000.0]], np.float32)
    path = tmp_path / '0001_x_SAR.tif'
    cv2.imwrite(str(path), sar)
    out = LoadShipChip()(dict(img_path=str(path), modality=1))['img']
    np.testing.assert_array_equal(out[0, :, 0], [197, 255])


def _released_factor(t, epochs, warmup=5):
    """Hoss-ReID solver/cosine_lr.py with scheduler_factory's constants
    (warmup_lr_init 0.01 x, lr_min 0.002 x, no warm-up prefix), relative to
    a group at the base lr."""
    if t < warmup:
        return 0.01 + t * (1 - 0.01) / warmup
    if t >= epochs:
        return 0.002
    return 0.002 + 0.5 * (1 - 0.002) * (1 + math.cos(math.pi * t / epochs))


@pytest.mark.parametrize('config,epochs,checks', [
    (HOSS, 200, {1: 0.208, 2: 0.406, 4: 0.802, 200: 0.002}),
    (PRETRAIN, 60, {1: 0.208, 30: 0.501, 60: 0.002}),
])
def test_schedule_per_epoch(repo_root, config, epochs, checks):
    cfg = Config.fromfile(repo_root / config)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2),
                                torch.nn.LayerNorm(2))
    optim_cfg = cfg.optim_wrapper.copy()
    optim_cfg['type'] = 'OptimWrapper'  # AMP needs a GPU
    optim = build_optim_wrapper(model, optim_cfg)
    base = cfg.optim_wrapper.optimizer.lr
    # Released: lr x2 for every name containing 'bias', norm biases too.
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {names[id(g['params'][0])]: g for g in optim.param_groups
              if g['params'] and id(g['params'][0]) in names}
    assert {n: g['lr'] for n, g in groups.items()} == {
        '0.weight': base, '0.bias': 2 * base, '1.weight': base,
        '1.bias': 2 * base}
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=optim))
                  for s in cfg.param_scheduler]
    seen = {}
    for t in range(1, epochs + 1):  # released epochs count from 1
        seen[t] = [groups['0.weight']['lr'], groups['1.bias']['lr']]
        for s in schedulers:
            s.step()
    for t, factor in checks.items():  # hand-worked from the release
        assert seen[t][0] == pytest.approx(factor * base, rel=1e-3)
    for t in range(1, epochs + 1):
        weight, bias = seen[t][0], seen[t][1]
        assert weight == pytest.approx(
            _released_factor(t, epochs) * base, rel=1e-12)
        # The bias group (2 x base) shares the absolute warm-up start and
        # floor: epoch 1 is 0.01 b + (2 b - 0.01 b) / 5 = 0.408 b.
        if t == 1:
            assert bias == pytest.approx(0.408 * base, rel=1e-12)


def test_pretraining_batch_variants(repo_root):
    head = Config.fromfile(repo_root / PRETRAIN).train_dataloader
    pre_fix = Config.fromfile(repo_root / PRETRAIN_PRE_FIX).train_dataloader
    assert (head.batch_size, head.sampler.num_ids) == (128, 64)
    assert head.sampler.get('shard_across_ranks', True)
    assert (pre_fix.batch_size, pre_fix.sampler.num_ids) == (512, 256)
    assert pre_fix.sampler.shard_across_ranks is False
    assert pre_fix.sampler.num_instances == 2  # one optical + one SAR


def test_unsharded_sampler_gives_every_rank_a_full_epoch(monkeypatch):
    from mmosar.datasets.samplers import identity_sampler as module

    class Pairs:
        def __len__(self):
            return 16

        def get_data_info(self, i):
            return dict(gt_label=i // 2)  # 8 pairs, optical + SAR

    seen = {}
    for shard in (True, False):
        for rank in (0, 1):
            monkeypatch.setattr(module, 'get_dist_info', lambda r=rank:
                                (r, 2))
            sampler = module.IdentitySampler(
                Pairs(), num_ids=2, num_instances=2, seed=0,
                shard_across_ranks=shard)
            seen[shard, rank] = list(sampler)
            assert len(seen[shard, rank]) == len(sampler)
    # Sharded: the two ranks split the 16 images; unsharded: each has all.
    assert sorted(seen[True, 0] + seen[True, 1]) == list(range(16))
    for rank in (0, 1):
        assert sorted(seen[False, rank]) == list(range(16))
    assert seen[False, 0] != seen[False, 1]


def test_random_erasing_after_normalisation(repo_root):
    """timm RandomErasing(mode='pixel') on the normalised image: one
    rectangle of N(0, 1) noise in every channel, only in training."""
    cfg = Config.fromfile(repo_root / HOSS).model.data_preprocessor
    preprocessor = MODELS.build(cfg)
    assert preprocessor.erasing.prob == 0.5
    img = torch.full((3, 256, 128), 100, dtype=torch.uint8)
    batch = dict(inputs=[img.clone() for _ in range(4)], data_samples=None)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    normalised = ((img.float().flip(0) - mean) / std)  # BGR -> RGB
    out = preprocessor(batch, training=False)['inputs']
    for x in out:
        torch.testing.assert_close(x, normalised)
    preprocessor.erasing.prob = 1.0
    random.seed(0)
    torch.manual_seed(0)
    noise = []
    for _ in range(20):
        out = preprocessor(dict(inputs=[img.clone()], data_samples=None),
                           training=True)['inputs'][0]
        changed = (out != normalised).any(dim=0)
        rows, cols = changed.any(dim=1).nonzero(), changed.any(dim=0).nonzero()
        box = (slice(int(rows.min()), int(rows.max()) + 1),
               slice(int(cols.min()), int(cols.max()) + 1))
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        assert bool(changed[box].all())  # one filled rectangle
        assert 0.015 < h * w / (256 * 128) < 1 / 3 + 0.01
        assert 0.3 / 1.2 < h / w < 1.2 / 0.3
        noise.append(out[:, box[0], box[1]].flatten())
    noise = torch.cat(noise)
    assert abs(float(noise.mean())) < 0.02 and abs(float(noise.std()) -
                                                    1) < 0.02
