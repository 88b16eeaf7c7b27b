"""The six M4-SAR benchmark baselines: modules, configs, released weights."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmosar.models.backbones import TwoStreamFusionBackbone
from mmosar.models.layers import CSSA, ICAFusion
from mmosar.models.layers.cmadet import AffineAlignment
from mmosar.models.layers.icafusion import anchor_pool
from mmosar.registry import MODELS
from mmosar.structures.bbox import RotatedBoxes
from mmosar.testing.equivalence import fixture_or_skip, run_check
from mmosar.utils.converters.m4sar import ConversionError
from mmosar.utils.converters.m4sar_baselines import (
    BASELINE_LAYOUTS,
    baseline_table,
    convert_m4sar_baseline,
)

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / 'configs/m4sar_benchmark'
STEMS = dict(CFT='cft', CALNet='calnet', CSSA='cssa', CMADet='cmadet',
             ICAFusion='icafusion', MMIDet='mmidet')
#: issue 16 / released README: parameters of the released graph built with
#: nc = 6 (incl. the 16 frozen DFL weights and layers never used)
RELEASED_BUILT = dict(CFT=53_758_469, CALNet=48_212_229, CSSA=13_510_423,
                      CMADet=41_472_207, ICAFusion=28_966_953,
                      MMIDet=53_760_517)
#: parameters the released ICAFusion builds but never uses (fixture README)
RELEASED_UNUSED = dict(ICAFusion=3_156_992)


def make_samples(size):
    """Two paired samples: three rotated boxes, and none."""
    boxes = torch.tensor([[20., 20, 12, 6, 0.3], [40, 30, 20, 8, -1.0],
                          [30, 50, 10, 10, 0.0]])
    samples = []
    for count in (3, 0):
        sample = DetDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=(size, size),
            scale_factor=(1.0, 1.0),
            modality_channels=dict(optical=3, sar=3)))
        sample.gt_instances = InstanceData(
            bboxes=RotatedBoxes(boxes[:count]),
            labels=torch.tensor([0, 3, 5][:count]))
        samples.append(sample)
    return samples


def full_cfg(model):
    return Config.fromfile(str(BENCH / f'{STEMS[model]}_yolo11s-obb_300e_'
                               'm4sar.py'))


def toy_cfg(model):
    return Config.fromfile(str(BENCH / f'{STEMS[model]}_yolo11n-obb_toy_'
                               'm4sar.py'))


@pytest.mark.parametrize('model', sorted(STEMS))
def test_toy_variant_has_the_fusion_of_the_full_config(model):
    scale_keys = {'arch', 'widen_factor'}
    full = {k: v for k, v in full_cfg(model).model.backbone.items()
            if k not in scale_keys}
    toy = {k: v for k, v in toy_cfg(model).model.backbone.items()
           if k not in scale_keys}
    if model == 'CALNet':  # the toy uses 4x smaller token grids
        for level, grid in dict(p3=10, p4=5, p5=3).items():
            assert toy['interaction_overrides'][level].pop('grid_size') == (
                grid, grid)
            full['interaction_overrides'][level].pop('grid_size')
    assert toy == full
    # one base for data and schedule: the E2E-OSDet recipe, unchanged
    recipe = Config.fromfile(
        str(REPO / 'configs/e2e_osdet/e2e-osdet_yolo11s-obb_300e_m4sar.py'))
    cfg = full_cfg(model)
    for key in ('train_dataloader', 'param_scheduler', 'train_cfg',
                'custom_hooks', 'test_evaluator'):
        assert cfg[key] == recipe[key], key
    assert cfg.model.neck == recipe.model.neck
    assert cfg.model.bbox_head == recipe.model.bbox_head


@pytest.mark.parametrize('model', sorted(STEMS))
def test_toy_baseline_trains_one_step(model):
    torch.manual_seed(0)
    detector = MODELS.build(toy_cfg(model).model)
    # the released ICAFusion needs maps at least as large as its anchor
    # grids (20 / 16 / 8 at P3 / P4 / P5): 256 px
    size = 256 if model == 'ICAFusion' else 64
    images = [torch.randint(0, 256, (6, size, size), dtype=torch.uint8)
              for _ in range(2)]
    data = detector.data_preprocessor(
        dict(inputs=images, data_samples=make_samples(size)), True)
    optimizer = torch.optim.SGD(detector.parameters(), lr=0.01)
    losses = detector(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_dfl'}
    sum(losses.values()).backward()
    backbone = detector.backbone
    parts = list(backbone.interactions.values()) + list(
        backbone.fusions.values())
    trained = [p for part in parts for n, p in part.named_parameters()
               if not n.startswith('eca_')]
    assert trained or model == 'CSSA'
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in trained)
    assert any(p.grad.abs().sum() > 0 for p in trained) or model == 'CSSA'
    if model == 'CSSA':  # the hard channel switch passes no gradient
        assert all(p.grad is None or not p.grad.any()
                   for p in backbone.fusions.parameters())
    before = [p.detach().clone() for p in trained]
    optimizer.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, trained)) \
        or model == 'CSSA'


@pytest.mark.parametrize('model', sorted(STEMS))
def test_parameter_count_equals_released_graph(model):
    """Released count - 16 frozen DFL weights (a buffer in mmosar) - layers
    the release builds but never calls."""
    with torch.device('meta'):  # no memory, no initialisation cost
        detector = MODELS.build(full_cfg(model).model)
    count = sum(p.numel() for p in detector.parameters())
    assert count == (RELEASED_BUILT[model] - 16 -
                     RELEASED_UNUSED.get(model, 0))


#: 20-45 s each on a 2-core CPU (scale-s build, recipe weights, forward)
SLOW_FIXTURES = ('CALNet', 'CFT', 'CMADet', 'ICAFusion', 'MMIDet')


@pytest.mark.parametrize('model', [
    pytest.param(m, marks=pytest.mark.slow) if m in SLOW_FIXTURES else m
    for m in sorted(STEMS)
])
def test_released_equivalence(model):
    fixture_or_skip(f'm4sar/baselines/{model}')
    report = run_check(f'm4sar/baselines/{model}')
    assert report.ok, report.format()


def test_cssa_matches_a_hand_worked_example():
    fusion = CSSA(kernel_size=3)
    # ECA conv weights: optical -> all channel weights < 0.5 (switch),
    # SAR -> all > 0.5 (keep)
    torch.nn.init.constant_(fusion.eca_optical.conv.weight, -1.0)
    torch.nn.init.constant_(fusion.eca_sar.conv.weight, 1.0)
    x_opt = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1).expand(1, 2, 1, 2)
    x_sar = torch.tensor([3.0, -1.0]).view(1, 2, 1, 1).expand(1, 2, 1, 2)
    out = fusion(x_opt.contiguous(), x_sar.contiguous())
    # optical channels all switched to SAR; SAR kept: Z = [3, -1, 3, -1]
    z = np.array([3.0, -1.0, 3.0, -1.0])
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    a = sig(z.mean()) * sig(z.max())
    expected = (a * z[:2] + a * z[2:]) / 2
    assert torch.allclose(out[0, :, 0, 0],
                          torch.tensor(expected, dtype=out.dtype))


def test_icafusion_anchor_pool_follows_the_release():
    # fixture README: a 32x32 P3 map towards 20x20 anchors -> 13x13 window,
    # stride 1; maps not larger than the grid are left as they are
    x = torch.arange(32 * 32, dtype=torch.float64).view(1, 1, 32, 32)
    pooled = anchor_pool(x, (20, 20), 'avg')
    assert pooled.shape[-2:] == (20, 20)
    assert pooled[0, 0, 0, 0] == x[0, 0, :13, :13].mean()
    assert pooled[0, 0, 19, 19] == x[0, 0, 19:, 19:].mean()
    assert anchor_pool(x, (32, 32), 'max') is x
    fusion = ICAFusion(16, grid_size=(8, 8), num_heads=2)
    with pytest.raises(ValueError, match='at least as large'):
        fusion(torch.zeros(1, 16, 4, 4), torch.zeros(1, 16, 4, 4))


def test_icafusion_upsampling_differs_in_train_and_eval():
    torch.manual_seed(0)
    fusion = ICAFusion(8, grid_size=(2, 2), num_heads=2, dropout=0.0)
    x = torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4)
    out_train = fusion.train()(*x)
    out_eval = fusion.eval()(*x)
    assert not torch.allclose(out_train, out_eval)  # nearest vs bilinear


def test_affine_alignment_with_identity_warp_is_a_concat_conv():
    torch.manual_seed(0)
    align = AffineAlignment(4, warp_dtype=None).eval()
    for head in (align.shift, align.scale_x, align.scale_y):
        torch.nn.init.zeros_(head.weight)
        torch.nn.init.zeros_(head.bias)
    x_opt, x_sar = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    theta = align.theta(x_opt, x_sar)
    assert torch.equal(theta, torch.tensor([[1., 0, 0], [0, 1, 0]]).expand(
        2, 2, 3))
    expected = align.fuse(torch.cat([x_opt, x_sar], 1))
    assert torch.allclose(align(x_opt, x_sar), expected, atol=1e-6)
    # released float32 warp: a float64 map is warped in float32
    align32 = AffineAlignment(4).double()
    assert align32.theta(x_opt.double(), x_sar.double()).dtype == \
        torch.float32


def test_fusion_backbone_rejects_bad_levels():
    with pytest.raises(ValueError, match='unknown or unused levels'):
        TwoStreamFusionBackbone(
            arch='n', widen_factor=0.125,
            modality_channels=dict(optical=3, sar=3),
            interaction=dict(type='CrossModalityFusionTransformer'),
            interaction_levels=('p1', ))
    with pytest.raises(ValueError, match='without a module config'):
        TwoStreamFusionBackbone(arch='n', interaction_levels=('p3', ))
    with pytest.raises(ValueError, match='c2psa'):
        TwoStreamFusionBackbone(arch='n', c2psa='neck')


def test_converter_names_every_unmapped_key():
    table = {spec.index: (spec.target, spec.kind)
             for spec in baseline_table('CSSA')}
    assert table[21] == ('backbone.fusions.p3', 'CSSA')
    assert table[24] == ('backbone.sppf', 'yolo')
    assert table[38] == ('bbox_head', 'obb_head')
    assert set(BASELINE_LAYOUTS) == set(STEMS)
    with pytest.raises(ConversionError, match='model.99.foo'):
        convert_m4sar_baseline({'model.99.foo': torch.zeros(1)}, 'CSSA')
    with pytest.raises(ConversionError, match='eca_rgb.g'):
        convert_m4sar_baseline({'model.21.eca_rgb.g.weight': torch.zeros(1)},
                               'CSSA')
    weights = {
        'model.5.m.0.cv1.conv.weight': torch.zeros(1),
        'model.38.cv3.1.1.0.bn.bias': torch.zeros(1),
        'model.38.dfl.conv.weight': torch.zeros(1, 16, 1, 1),
    }
    # the DFL projection must be the released 0..15 unless told otherwise
    with pytest.raises(ConversionError, match='DFL'):
        convert_m4sar_baseline(weights, 'CSSA')
    converted = convert_m4sar_baseline(weights, 'CSSA',
                                       check_constants=False).state_dict
    assert list(converted) == [
        'backbone.streams.optical.0.2.blocks.0.conv1.conv.weight',
        'bbox_head.cls_branches.1.2.bn.bias'
    ]
    # dead ICAFusion entries are dropped and listed, live ones kept
    conversion = convert_m4sar_baseline(
        {
            'model.25.crosstransformer.0.LN1.weight': torch.zeros(1),
            'model.25.crosstransformer.0.crossatt.LN1.weight': torch.zeros(1),
        }, 'ICAFusion')
    assert conversion.dropped == ['model.25.crosstransformer.0.LN1.weight']
    assert list(conversion.state_dict) == [
        'backbone.fusions.p3.blocks.0.attn.norm.optical.weight'
    ]
