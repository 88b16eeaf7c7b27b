"""SDCoNet building blocks against hand-worked values and direct formulas."""
import math

import numpy as np
import pytest
import torch

from mmosar.models.layers.sdconet_salience import (
    SalienceFocalLoss,
    salience_targets,
    select_salient_tokens,
)
from mmosar.models.layers.sdconet_sr import (
    SwinSRDecoder,
    SwinTransformerSR,
    scale_gradient,
)


def test_select_salient_tokens_matches_direct_sort():
    torch.manual_seed(0)
    shapes = torch.tensor([[4, 4], [2, 3]])
    scores = torch.randn(2, 22)
    valid = torch.ones(2, 22, dtype=torch.bool)
    valid[1, [3, 7, 11, 15, 20]] = False  # padding of image 1
    ratios = (0.5, 0.67)
    index = select_salient_tokens(scores, valid, shapes, ratios)

    levels = [(0, 16), (16, 22)]
    for b in range(2):
        expected = set()
        for (start, end), ratio in zip(levels, ratios):
            num_valid = max(int(valid[i, start:end].sum()) for i in range(2))
            k = math.ceil(ratio * num_valid)
            level = [(float(scores[b, i]) if valid[b, i] else -np.inf, i)
                     for i in range(start, end)]
            expected |= {i for _, i in sorted(level, reverse=True)[:k]}
        got = index[b].tolist()
        assert set(got) == expected
        # best first
        got_scores = [
            float(scores[b, i]) if valid[b, i] else -np.inf for i in got
        ]
        assert got_scores == sorted(got_scores, reverse=True)


def test_select_salient_tokens_keep_all_is_a_full_argsort():
    scores = torch.tensor([[0.1, 0.9, -0.3, 0.5, 0.2]])
    valid = torch.ones(1, 5, dtype=torch.bool)
    index = select_salient_tokens(scores, valid, torch.tensor([[1, 5]]), (1, ))
    assert index.tolist() == [[1, 3, 4, 0, 2]]


def test_select_salient_tokens_rejects_bad_ratio():
    with pytest.raises(ValueError, match='level_keep_ratio'):
        select_salient_tokens(
            torch.zeros(1, 4), torch.ones(1, 4, dtype=torch.bool),
            torch.tensor([[2, 2]]), (0, ))


def test_salience_targets_hand_worked():
    # 64 x 64 image, levels 4x4 (stride 16) and 2x2 (stride 32); a token is
    # on level 0 when its largest border distance is <= 41, else level 1.
    shapes = torch.tensor([[4, 4], [2, 2]])
    ranges = ((-1, 41), (41, 1e8))
    boxes = [
        torch.tensor([[0., 0., 48., 32.]]),
        torch.tensor([[0., 0., 64., 64.]])
    ]
    t = salience_targets(boxes, shapes, (64, 64), ranges)
    a = 1 - 0.5 * math.sqrt((2 / 3)**2 + 0.25)  # (dx, dy) = (2/3, 1/2)
    expected0 = np.zeros((4, 4))
    expected0[0] = [a, 0.75, a, 0]
    expected0[1] = [a, 0.75, a, 0]
    np.testing.assert_allclose(
        t[0, :16].view(4, 4).numpy(), expected0, atol=1e-6)
    # centre (16, 16) of level 1 is 32 px from the far borders: level 0 range
    np.testing.assert_allclose(t[0, 16:].numpy(), 0, atol=1e-6)
    # image 1: the whole-image box; the four central level-0 tokens are 40 px
    # from the far borders (dx = dy = 1/4), level-1 tokens 48 px (1/2).
    c = 1 - 0.5 * math.sqrt(2 * 0.25**2)
    expected1 = np.zeros((4, 4))
    expected1[1:3, 1:3] = c
    np.testing.assert_allclose(
        t[1, :16].view(4, 4).numpy(), expected1, atol=1e-6)
    np.testing.assert_allclose(
        t[1, 16:].numpy(), 1 - 0.5 * math.sqrt(0.5), atol=1e-6)


def test_salience_targets_without_boxes():
    t = salience_targets([torch.zeros(0, 4)], torch.tensor([[2, 2]]), (8, 8),
                         ((-1, 1e8), ))
    assert t.shape == (1, 4) and not t.any()


def test_salience_targets_take_value_from_any_containing_box():
    # One 4x4 level (stride 16) of a 64 x 64 image, range (-1, 30]: box A
    # (0, 0, 32, 32) fits it, box B (0, 0, 64, 64) does not (its tokens are
    # >= 40 px from a border). As released, a token that A makes positive
    # takes the largest value over every box containing it, so token (1, 1)
    # at (24, 24) gets B's value 1 - sqrt(2 * 0.25^2) / 2 (0.823), not A's
    # 1 - sqrt(2 * 0.5^2) / 2 (0.646).
    boxes = [torch.tensor([[0., 0., 32., 32.], [0., 0., 64., 64.]])]
    t = salience_targets(boxes, torch.tensor([[4, 4]]), (64, 64),
                         ((-1, 30), ))
    a = 1 - math.sqrt(2 * 0.5**2) / 2
    b = 1 - math.sqrt(2 * 0.25**2) / 2
    expected = np.zeros((4, 4))
    expected[0, :2] = a  # (8, 8): A 0.646 > B 0.470; (24, 8): A > B 0.605
    expected[1, 0] = a
    expected[1, 1] = b
    np.testing.assert_allclose(t[0].view(4, 4).numpy(), expected, atol=1e-6)


# Hand-worked focal terms l = BCE(x, t) * [(1 - a) p^2 (1 - t) + a t (1 - p)^2]
# with a = 0.25 (BCE of p = 0.5 is ln 2 for any t):
#   x = 0, t = 1:     ln2 * 0.25 * 0.25                     = 0.0433217
#   x = 0, t = 0:     ln2 * 0.75 * 0.25                     = 0.1299651
#   x = 0, t = 0.5:   ln2 * (0.75*0.25*0.5 + 0.25*0.5*0.25) = 0.0866434
#   x = ln3 (p=.75), t = 0.6: BCE = -(0.6 ln .75 + 0.4 ln .25) = 0.7271270,
#                     weight 0.75*0.5625*0.4 + 0.25*0.6*0.0625 = 0.178125
#                                                           -> 0.1295195
FOCAL_CASES = [(0.0, 1.0, 0.0433217), (0.0, 0.0, 0.1299651),
               (0.0, 0.5, 0.0866434), (math.log(3), 0.6, 0.1295195)]


def test_salience_focal_loss_hand_worked():
    logits = torch.tensor([[c[0] for c in FOCAL_CASES]], dtype=torch.float64)
    targets = torch.tensor([[c[1] for c in FOCAL_CASES]], dtype=torch.float64)
    loss_fn = SalienceFocalLoss(alpha=0.25, gamma=2.0, loss_weight=2.0)
    np.testing.assert_allclose(
        loss_fn.elementwise(logits, targets)[0].numpy(),
        [c[2] for c in FOCAL_CASES],
        rtol=1e-6)
    # w * sum / (tokens with t > 0); the last token is padding and ignored.
    valid = torch.tensor([[True, True, True, False]])
    expected = 2.0 * (0.0433217 + 0.1299651 + 0.0866434) / 2
    assert float(loss_fn(logits, targets, valid)) == pytest.approx(
        expected, rel=1e-6)


def test_salience_focal_loss_gradient_at_p_equal_t():
    # At p = t = 0.6 the BCE gradient p - t vanishes, and the weight's
    # derivative 2 (0.75 * 0.6 * 0.4 - 0.25 * 0.6 * 0.4) = 0.24 (per unit p)
    # times dp/dx = 0.24 and BCE = H(0.6) = 0.6730117 gives dl/dx = 0.0387655:
    # the released weight pushes the logit *down* at a soft target of 0.6.
    x = torch.tensor([[math.log(1.5)]], dtype=torch.float64,
                     requires_grad=True)
    t = torch.tensor([[0.6]], dtype=torch.float64)
    SalienceFocalLoss().elementwise(x, t).sum().backward()
    assert float(x.grad) == pytest.approx(0.6730117 * 0.24 * 0.24, rel=1e-6)


@pytest.mark.parametrize('scale', [0.0, 0.5, 1.0])
def test_scale_gradient(scale):
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = scale_gradient(x, scale)
    assert torch.equal(y.detach(), x.detach())
    if scale == 0:
        assert not y.requires_grad
        return
    (3 * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * scale)


def test_swin_sr_skips_and_decoder_shapes():
    backbone = SwinTransformerSR(
        embed_dims=16,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 2, 2],
        window_size=4,
        out_indices=(1, 2, 3))
    backbone.eval()
    x = torch.randn(1, 3, 64, 48)
    outs, skips = backbone.forward_with_skips(x)
    plain = backbone(x)
    assert len(outs) == 3
    for a, b in zip(outs, plain):
        assert torch.equal(a, b)
    assert [tuple(s.shape[1:]) for s in skips] == [(16, 16, 12), (16, 16, 12),
                                                   (32, 8, 6), (64, 4, 3),
                                                   (128, 2, 2)]
    # the detection maps are the normalised stage outputs
    for out, skip in zip(outs, skips[2:]):
        assert torch.equal(out, skip)
    decoder = SwinSRDecoder(
        in_channels=(16, 16, 32, 64, 128),
        depths=(1, 1, 1, 1),
        num_heads=(2, 2, 1, 1),
        window_size=4,
        recon_channels=8,
        bottleneck_norm_cfg=dict(type='GN', num_groups=8))
    sr = decoder(skips, (128, 96))
    assert sr.shape == (1, 3, 128, 96)


def _toy_decoder(**kwargs):
    return SwinSRDecoder(
        in_channels=(16, 16, 32, 64, 128),
        depths=(1, 1, 1, 1),
        num_heads=(2, 2, 1, 1),
        window_size=4,
        recon_channels=8,
        bottleneck_norm_cfg=dict(type='GN', num_groups=8),
        **kwargs).eval()


def _toy_skips():
    torch.manual_seed(0)
    return [
        torch.randn(1, c, s, s)
        for c, s in ((16, 32), (16, 32), (32, 16), (64, 8), (128, 4))
    ]


def test_swin_sr_decoder_released_view_and_offset():
    """``'view'`` feeds the first LayerNorm the bottleneck's memory read as
    ``(B, H*W, C)`` rows, as the release's ``x.view(B, -1, C)``; the output
    offset adds one constant per channel."""
    torch.manual_seed(1)
    paper = _toy_decoder()
    released = _toy_decoder(
        bottleneck_layout='view', output_offset=(0.4488, 0.4371, 0.4040))
    released.load_state_dict(paper.state_dict())
    seen = {}
    released.bottleneck.register_forward_hook(
        lambda _m, _a, out: seen.update(bottleneck=out))
    released.expands[0].norm.register_forward_pre_hook(
        lambda _m, args: seen.update(norm_in=args[0]))
    skips = _toy_skips()
    with torch.no_grad():
        out = released(skips, (256, 256))
    b, c, h, w = seen['bottleneck'].shape
    assert (h, w) == (2, 2)
    rows = seen['bottleneck'].contiguous().view(b, -1, c)  # released
    assert torch.equal(seen['norm_in'], rows.view(b, h, w, c))
    assert not torch.equal(seen['norm_in'],
                           seen['bottleneck'].permute(0, 2, 3, 1))
    # the offset is added once per channel after the reconstruction
    no_offset = _toy_decoder(bottleneck_layout='view')
    no_offset.load_state_dict(paper.state_dict())
    with torch.no_grad():
        diff = out - no_offset(skips, (256, 256))
    np.testing.assert_allclose(
        diff.mean((0, 2, 3)).numpy(), [0.4488, 0.4371, 0.4040], rtol=1e-6)
    np.testing.assert_allclose(diff.std((0, 2, 3)).numpy(), 0, atol=1e-6)


def test_swin_sr_decoder_rejects_mismatched_stages():
    with pytest.raises(ValueError, match='depths'):
        SwinSRDecoder(
            in_channels=(16, 16, 32), depths=(1, 1, 1), num_heads=(1, 1, 1))


def _tiny_encoder(**kwargs):
    from mmosar.models.layers.sdconet_encoder import SalienceEncoder
    layer_cfg = dict(
        self_attn_cfg=dict(embed_dims=32, num_levels=2, num_heads=4),
        ffn_cfg=dict(embed_dims=32, feedforward_channels=64),
        pre_attn_topk=0,
        double_residual=kwargs.pop('double_residual', False))
    return SalienceEncoder(
        num_layers=2, layer_cfg=layer_cfg, **kwargs).double().eval()


def _tiny_inputs():
    torch.manual_seed(0)
    shapes = torch.tensor([[4, 4], [2, 2]])
    return dict(
        query=torch.randn(1, 20, 32, dtype=torch.float64),
        query_pos=torch.randn(1, 20, 32, dtype=torch.float64),
        key_padding_mask=None,
        spatial_shapes=shapes,
        level_start_index=torch.tensor([0, 16]),
        valid_ratios=torch.ones(1, 2, 2, dtype=torch.float64),
        salient_index=torch.arange(20)[None])


@pytest.mark.parametrize('released', [False, True])
def test_encoder_residual_and_value_source(released):
    """Paper intent: layer 1 reads layer 0's memory and its first norm sees
    ``q + attn``; released: every layer reads the encoder input and the norm
    sees ``2 q + pos + attn`` (``attn`` = the deformable attention's output
    without its identity, computed here with a zero identity)."""
    encoder = _tiny_encoder(
        value_from_input=released, double_residual=released)
    inputs = _tiny_inputs()
    seen = {}

    def keep(key, value):
        seen.setdefault(key, value)  # hooks must return None

    for i, layer in enumerate(encoder.layers):
        layer.self_attn.register_forward_pre_hook(
            lambda _m, _a, kw, i=i: keep(f'value{i}', kw['value']),
            with_kwargs=True)
        layer.norms[0].register_forward_pre_hook(
            lambda _m, args, i=i: keep(f'norm{i}', args[0]))
    layer0_out = []
    encoder.layers[0].register_forward_hook(
        lambda _m, _a, out: layer0_out.append(out))
    with torch.no_grad():
        encoder(**inputs)
        q, pos = inputs['query'], inputs['query_pos']
        ref = encoder.get_encoder_reference_points(
            inputs['spatial_shapes'], inputs['valid_ratios'], q.device)
        attn = encoder.layers[0].self_attn(
            query=q + pos,
            value=q,
            identity=torch.zeros_like(q),
            reference_points=ref,
            spatial_shapes=inputs['spatial_shapes'],
            level_start_index=inputs['level_start_index'])
    expected = 2 * q + pos + attn if released else q + attn
    torch.testing.assert_close(seen['norm0'], expected, rtol=1e-12,
                               atol=1e-12)
    value1 = q if released else layer0_out[0]
    assert torch.equal(seen['value1'], value1)
