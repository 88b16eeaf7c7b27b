"""E2E-OSDet layers: FAM, area attention / AFM, CMIM, backbones and neck."""
import math

import numpy as np
import pytest
import torch

from mmosar.models.backbones import TwoStreamBackbone, YOLO11CSPBackbone
from mmosar.models.layers import (
    AFM,
    CMIM,
    FAM,
    AreaAttention,
    area_attention,
    selective_scan_ref,
)
from mmosar.models.necks import YOLO11PAFPN
from mmosar.registry import MODELS


# ----------------------------------------------------------------- FAM ----
def numpy_ratio_edges(band, radius=5, eps=0.01):
    """Direct log-ratio of half-window box sums, pixel by pixel."""
    padded = np.pad(band.astype(np.float64), radius, mode='reflect') + eps
    height, width = band.shape
    out = np.zeros((height, width))
    for i in range(height):
        for j in range(width):
            ci, cj = i + radius, j + radius
            rows = slice(ci - radius, ci + radius + 1)
            cols = slice(cj - radius, cj + radius + 1)
            left = padded[rows, cj - radius:cj + 1].sum()
            right = padded[rows, cj:cj + radius + 1].sum()
            top = padded[ci - radius:ci + 1, cols].sum()
            bottom = padded[ci:ci + radius + 1, cols].sum()
            out[i, j] = math.hypot(math.log(left / right),
                                   math.log(top / bottom))
    return out


def step_image(channels, height=16, width=13, seed=0):
    """Noise plus a dark/bright step, so some edge magnitudes exceed 1."""
    rng = np.random.default_rng(seed)
    img = rng.uniform(0.0, 0.2, (channels, height, width))
    img[:, :, width // 2:] += 0.8
    img[:, height // 3:, :3] = 0.0
    return img


def test_fam_per_channel_matches_numpy():
    img = step_image(3)
    edges = np.stack([np.floor(numpy_ratio_edges(band)) for band in img])
    assert edges.max() >= 1  # the step produces integer-valued edges
    out = FAM(mode='per_channel')(torch.from_numpy(img)[None].float())
    np.testing.assert_allclose(
        out[0].numpy(), img + 0.1 * edges, rtol=0, atol=1e-5)


def test_fam_single_band_and_continuous():
    img = step_image(2, seed=1)
    edges = numpy_ratio_edges(img[0])
    out = FAM(mode='single_band', band_index=0, quantize=False)(
        torch.from_numpy(img)[None].float())
    np.testing.assert_allclose(
        out[0].numpy(), img + 0.1 * edges[None], rtol=0, atol=1e-4)


def test_fam_on_normalised_input():
    img = step_image(1, seed=2)
    edges = np.floor(numpy_ratio_edges(img[0]))
    mean, std = 90.0, 50.0
    normalised = (img * 255 - mean) / std
    out = FAM(mode='single_band', data_mean=[mean], data_std=[std])(
        torch.from_numpy(normalised)[None].float())
    expected = ((img + 0.1 * edges) * 255 - mean) / std
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=0, atol=1e-4)


# ------------------------------------------------------ area attention ----
def numpy_attention(q, k, v):
    logits = q @ k.T / math.sqrt(q.shape[-1])
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    return (weights / weights.sum(-1, keepdims=True)) @ v


def test_area_attention_matches_per_area_softmax():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 12, 4, generator=gen, dtype=torch.float64)
               for _ in range(3))
    out = area_attention(q, k, v, area=2).numpy()
    expected = np.zeros_like(out)
    for b in range(2):
        for h in range(3):
            for part in (slice(0, 6), slice(6, 12)):
                expected[b, h, part] = numpy_attention(
                    q[b, h, part].numpy(), k[b, h, part].numpy(),
                    v[b, h, part].numpy())
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('height', [4, 5])  # 5: padded to 6, then cropped
def test_cross_modal_area_attention_module(height):
    torch.manual_seed(0)
    channels, heads, width = 8, 2, 3
    module = AreaAttention(channels, heads, area=2, num_inputs=2).eval()
    x = torch.randn(1, channels, height, width)
    y = torch.randn(1, channels, height, width)
    out = module(x, y)
    with torch.no_grad():
        pad = height % 2
        xp = torch.nn.functional.pad(x, (0, 0, 0, pad))
        yp = torch.nn.functional.pad(y, (0, 0, 0, pad))
        qkv = (module.qkv(xp) + module.qkv_second(yp))[0].numpy()
        hp = height + pad
        tokens = qkv.reshape(3 * channels, hp * width).T  # (L, 3C)
        hd = channels // heads
        attended = np.zeros((hp * width, channels))
        v_map = np.zeros((channels, hp * width))
        half = hp * width // 2
        for h in range(heads):
            block = tokens[:, h * 3 * hd:(h + 1) * 3 * hd]
            q, k, v = block[:, :hd], block[:, hd:2 * hd], block[:, 2 * hd:]
            v_map[h * hd:(h + 1) * hd] = v.T
            for part in (slice(0, half), slice(half, None)):
                attended[part, h * hd:(h + 1) * hd] = numpy_attention(
                    q[part], k[part], v[part])
        att = torch.from_numpy(attended.T.reshape(1, channels, hp, width))
        v_map = torch.from_numpy(v_map.reshape(1, channels, hp, width))
        expected = module.proj(
            (att + module.pe(v_map.float())).float())[:, :, :height]
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def test_afm_fuses_both_modalities():
    torch.manual_seed(0)
    afm = AFM(64).eval()
    x_opt, x_sar = torch.randn(2, 2, 64, 6, 5).unbind(0)
    out = afm(x_opt, x_sar)
    assert out.shape == (2, 64, 6, 5)
    assert not torch.allclose(afm(x_opt, x_sar + 1.0), out)
    assert not torch.allclose(afm(x_opt + 1.0, x_sar), out)
    assert afm.attn.num_heads == 2  # head dim 32


# ----------------------------------------------------------------- CMIM ---
def test_cmim_cross_modal_dependency_and_shapes():
    torch.manual_seed(0)
    cmim = CMIM(16, d_state=4)
    x_opt = torch.randn(2, 16, 3, 5)
    x_sar = torch.randn(2, 16, 3, 5)
    out_opt, out_sar = cmim(x_opt, x_sar)
    assert out_opt.shape == out_sar.shape == (2, 16, 3, 5)
    perturbed_opt, _ = cmim(x_opt, x_sar + torch.randn_like(x_sar))
    _, perturbed_sar = cmim(x_opt + torch.randn_like(x_opt), x_sar)
    assert (perturbed_opt - out_opt).abs().max() > 1e-4
    assert (perturbed_sar - out_sar).abs().max() > 1e-4
    updates = CMIM(16, d_state=4, residual=False)
    updates.load_state_dict(cmim.state_dict())
    torch.testing.assert_close(updates(x_opt, x_sar)[0] + x_opt, out_opt)


def test_cmim_scan_equals_two_directional_reference():
    """The grouped two-direction scan equals two separate plain scans."""
    torch.manual_seed(0)
    cmim = CMIM(8, d_state=3).double()
    seq = torch.randn(2, cmim.d_inner, 10, dtype=torch.float64)
    d, r, n = cmim.d_inner, cmim.dt_rank, cmim.d_state
    expected = 0
    for k, z in enumerate((seq, seq.flip(-1))):
        proj = torch.einsum('bdl,cd->bcl', z, cmim.x_proj_weight[k])
        dt, B, C = proj.split([r, n, n], dim=1)
        delta = torch.einsum('brl,dr->bdl', dt, cmim.dt_proj_weight[k])
        params = slice(k * d, (k + 1) * d)
        y = selective_scan_ref(
            z, delta, -torch.exp(cmim.A_log[params]), B, C,
            cmim.D[params], delta_bias=cmim.dt_proj_bias[k],
            delta_softplus=True)
        expected = expected + (y if k == 0 else y.flip(-1))
    torch.testing.assert_close(cmim.cross_modal_scan(seq), expected)


def test_cmim_initialisation():
    cmim = CMIM(32, d_state=16)
    assert cmim.dt_rank == 2 and cmim.d_inner == 64
    step = torch.nn.functional.softplus(cmim.dt_proj_bias)
    assert step.min() >= 1e-4 - 1e-7 and step.max() <= 0.1 + 1e-6
    torch.testing.assert_close(-torch.exp(cmim.A_log[0]),
                               -torch.arange(1.0, 17.0))


# ------------------------------------------------- backbones and neck -----
def test_two_stream_backbone_and_neck_scale_s():
    torch.manual_seed(0)
    backbone = MODELS.build(
        dict(type='TwoStreamBackbone', arch='s',
             modality_channels=dict(optical=3, sar=1)))
    neck = MODELS.build(
        dict(type='YOLO11PAFPN', in_channels=backbone.out_channels,
             arch='s'))
    assert backbone.out_channels == (256, 256, 512)
    assert neck.out_channels == (128, 256, 512)
    x = torch.rand(2, 4, 128, 96)
    feats = backbone(x)
    assert [f.shape for f in feats] == [(2, 256, 16, 12), (2, 256, 8, 6),
                                        (2, 512, 4, 3)]
    outs = neck(feats)
    assert [o.shape for o in outs] == [(2, 128, 16, 12), (2, 256, 8, 6),
                                       (2, 512, 4, 3)]
    sum(o.square().mean() for o in outs).backward()
    for name in ('streams.sar.0.0.conv.weight', 'cmims.0.A_log',
                 'cmims.2.in_proj.optical.weight',
                 'fusions.1.attn.qkv_second.conv.weight',
                 'c2psa.conv1.conv.weight'):
        grad = dict(backbone.named_parameters())[name].grad
        assert grad is not None and torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, name


@pytest.mark.parametrize('switches', [
    dict(use_fam=False),
    dict(use_cmim=False),
    dict(use_afm=False, fallback_fusion='add'),
    dict(use_afm=False, fallback_fusion='concat'),
])
def test_two_stream_ablation_switches(switches):
    backbone = TwoStreamBackbone(arch='n', **switches)
    assert hasattr(backbone, 'cmims') == switches.get('use_cmim', True)
    assert hasattr(backbone, 'fams') == switches.get('use_fam', True)
    feats = backbone(torch.rand(1, 4, 64, 64))
    assert [f.shape[1:] for f in feats] == [(128, 8, 8), (128, 4, 4),
                                            (256, 2, 2)]


def test_two_stream_backbone_input_errors():
    backbone = TwoStreamBackbone(arch='n')
    with pytest.raises(ValueError, match=r'\(B, 4, H, W\)'):
        backbone(torch.rand(1, 6, 64, 64))
    with pytest.raises(ValueError, match='fam_cfg has unknown'):
        TwoStreamBackbone(arch='n', fam_cfg=dict(rgb=dict()))


def test_single_stream_backbone_selects_modality():
    torch.manual_seed(0)
    backbone = YOLO11CSPBackbone(
        arch='n', modality='sar',
        modality_channels=dict(optical=3, sar=1)).eval()
    neck = YOLO11PAFPN(backbone.out_channels, arch='n')
    x = torch.rand(2, 4, 64, 96)
    feats = backbone(x)
    assert backbone.out_channels == (128, 128, 256)
    assert [f.shape for f in feats] == [(2, 128, 8, 12), (2, 128, 4, 6),
                                        (2, 256, 2, 3)]
    changed = x.clone()
    changed[:, :3] = torch.rand(2, 3, 64, 96)  # optical bands only
    for a, b in zip(backbone(changed), feats):
        torch.testing.assert_close(a, b)
    sum(o.mean() for o in neck(feats)).backward()
    assert backbone.stages[0][0].conv.weight.grad is not None


def test_yolo11_channel_table_scale_m():
    backbone = YOLO11CSPBackbone(arch='m')
    neck = YOLO11PAFPN(backbone.out_channels, arch='m')
    assert backbone.out_channels == (512, 512, 512)
    assert neck.out_channels == (256, 512, 512)


def test_init_weights_keeps_pytorch_default_conv_init():
    # mmcv's ConvModule would re-draw convs from Kaiming normal (fan_out);
    # YOLO11 keeps PyTorch's Kaiming uniform, |w| <= 1 / sqrt(fan_in).
    backbone = YOLO11CSPBackbone(arch='n')
    backbone.init_weights()
    conv = backbone.stages[0][1].conv
    fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    assert conv.weight.abs().max() <= fan_in**-0.5


@pytest.mark.parametrize('arch,total,head', [
    # Ultralytics model summaries: YOLO11n 2,624,080 and YOLO11s 9,458,752
    # parameters. Their Detect head (80 classes, reg_max 16, depthwise
    # classification branch, 16-weight DFL conv) counted by hand:
    # 464,912 (n, P3/P4/P5 = 64/128/256) and 850,368 (s, 128/256/512).
    ('n', 2_624_080, 464_912),
    ('s', 9_458_752, 850_368),
])
def test_yolo11_backbone_neck_parameter_count(arch, total, head):
    backbone = YOLO11CSPBackbone(arch=arch)
    neck = YOLO11PAFPN(backbone.out_channels, arch=arch)
    count = sum(p.numel() for m in (backbone, neck) for p in m.parameters())
    assert count == total - head
