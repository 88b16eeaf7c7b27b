"""IFKDDistillLoss in paper mode (eq. 12 on every level) and its Table 4
ablations against an independent numpy evaluation of the paper's equations.
The released mode is checked against the released code's numbers in
test_ifkd_equivalence.py."""
import itertools

import numpy as np
import pytest
import torch

from mmosar.models.distillers import IFKDDistillLoss

SIZES = (8, 4)
CHANNELS = 4
RATIO = 0.5  # windows of 5x5 (8x8 maps) and 3x3 (4x4 maps)
ADAPT_SCALE, ADAPT_BIAS = 0.7, 0.05


def np_bilinear(mask, size):
    """Bilinear resize, align_corners=False (half-pixel centres, edges
    clamped), of (B, 1, h, w) to (B, 1, size, size)."""
    def axis_weights(n_in, n_out):
        w = np.zeros((n_out, n_in))
        for i in range(n_out):
            src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
            lo = min(int(np.floor(src)), n_in - 1)
            hi = min(lo + 1, n_in - 1)
            frac = src - lo
            w[i, lo] += 1 - frac
            w[i, hi] += frac
        return w
    wy = axis_weights(mask.shape[2], size)
    wx = axis_weights(mask.shape[3], size)
    return np.einsum('yh,bchw,xw->bcyx', wy, mask, wx)


def np_low_pass(x, ratio):
    h, w = x.shape[-2:]
    half = ratio * min(h, w) / 2
    u = np.abs(np.arange(h) - h // 2)[:, None]
    v = np.abs(np.arange(w) - w // 2)[None, :]
    window = (np.maximum(u, v) <= half).astype(float)
    spec = np.fft.fftshift(np.fft.fft2(x, axes=(-2, -1)), axes=(-2, -1))
    return np.fft.ifft2(np.fft.ifftshift(spec * window, axes=(-2, -1)),
                        axes=(-2, -1)).real


def np_poincare(x, y):
    """d(x, y) = 2 artanh(|(-x) (+) y|), c = 1, vectors on axis 0."""
    xy, x2, y2 = (-x * y).sum(0), (x * x).sum(0), (y * y).sum(0)
    num = (1 + 2 * xy + y2) * -x + (1 - x2) * y
    den = 1 + 2 * xy + x2 * y2
    return 2 * np.arctanh(np.linalg.norm(num / den, axis=0))


def np_hsm(t, s, per_sample=True):
    """Common per-sample scale so the largest vector has radius 0.9."""
    norms = np.stack([np.linalg.norm(t, axis=1), np.linalg.norm(s, axis=1)])
    largest = norms.max(axis=(0, 2, 3)) if per_sample else \
        np.full(t.shape[0], norms.max())
    return np.stack([
        np_poincare(t[b] * 0.9 / largest[b], s[b] * 0.9 / largest[b])
        for b in range(t.shape[0])
    ])


def np_reference(inputs, use_ede, use_fdr, use_hsm, per_sample=True):
    """alpha * L_feat and beta * L_head of eq. 12-14 (paper mode)."""
    t_feats, s_feats, t_cls, s_cls, mask = inputs
    feat = head = 0.0
    for lvl, size in enumerate(SIZES):
        t, s = t_feats[lvl], ADAPT_SCALE * s_feats[lvl] + ADAPT_BIAS
        p_t = 1 / (1 + np.exp(-t_cls[lvl]))
        if use_ede:  # eq. 1: T + Resize(sigmoid(SAM(x)))
            t = t + np_bilinear(mask, size)
        if use_fdr:  # eqs. 3-8, W = 1: f + (M_FRS - 1) f^l
            frs = p_t.max(axis=1)[:, None]
            t = t + (frs - 1) * np_low_pass(t, RATIO)
            s = s + (frs - 1) * np_low_pass(s, RATIO)
        m = np_hsm(t, s, per_sample) if use_hsm else np.ones(
            (t.shape[0], size, size))
        feat += (m * ((t - s)**2).sum(1)).sum() / (CHANNELS * m.sum())
        p_s = 1 / (1 + np.exp(-s_cls[lvl]))
        bce = -(p_t * np.log(p_s) + (1 - p_t) * np.log(1 - p_s)).sum(1)
        head += (m * bce).sum() / m.sum()
    return 0.06 * feat, 0.5 * head


def make_inputs():
    rng = np.random.default_rng(0)
    t_feats, s_feats, t_cls, s_cls = [], [], [], []
    for size in SIZES:
        shape = (2, CHANNELS, size, size)
        # sample 1 five times larger: per-sample and batch-wide HSM
        # scales differ
        scale = np.array([1.0, 5.0])[:, None, None, None]
        t_feats.append(rng.normal(size=shape) * scale)
        s_feats.append(rng.normal(size=shape) * scale)
        t_cls.append(rng.normal(size=(2, 3, size, size)) * 2)
        s_cls.append(rng.normal(size=(2, 3, size, size)) * 2)
    mask = rng.uniform(size=(2, 1, 16, 16))
    return t_feats, s_feats, t_cls, s_cls, mask


def build(use_ede, use_fdr, use_hsm):
    model = IFKDDistillLoss(
        alpha=0.06, beta=0.5, num_levels=len(SIZES),
        student_channels=CHANNELS, teacher_channels=CHANNELS,
        fdr_levels=(0, 1) if use_fdr else (),
        ede_levels=(0, 1) if use_ede else (),
        fdr=dict(impl='paper', ratio=RATIO, filter='fixed'),
        ede=dict(combine='add', generator=False), use_hsm=use_hsm,
        hsm=dict(impl='paper', ball_map='scale', scale_radius=0.9),
        hsm_input='reconstructed',
        feat_norm='mask_sum_channel_mean').double()
    with torch.no_grad():  # A(S) = 0.7 S + 0.05
        conv = model.adapters[0]
        conv.weight.zero_()
        conv.weight[:, :, 1, 1] = ADAPT_SCALE * torch.eye(
            CHANNELS, dtype=torch.float64)
        conv.bias.fill_(ADAPT_BIAS)
    return model


def run(model, inputs):
    t_feats, s_feats, t_cls, s_cls, mask = (
        [torch.tensor(v) for v in x] if isinstance(x, list) else
        torch.tensor(x) for x in inputs)
    losses = model.loss(t_feats, t_cls, s_feats, s_cls, mask)
    return (losses['loss_ifkd_feat'].item(),
            losses['loss_ifkd_head'].item())


@pytest.mark.parametrize('use_ede,use_fdr,use_hsm',
                         list(itertools.product((True, False), repeat=3)))
def test_paper_mode_and_ablations_match_numpy(use_ede, use_fdr, use_hsm):
    inputs = make_inputs()
    got = run(build(use_ede, use_fdr, use_hsm), inputs)
    expected = np_reference(inputs, use_ede, use_fdr, use_hsm)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_reference_tells_the_modules_apart():
    """The numpy reference separates what the test must catch: the
    per-sample HSM scale, HSM itself, EDE and FDR each move the result by
    far more than the 1e-10 tolerance."""
    inputs = make_inputs()
    full = np.array(np_reference(inputs, True, True, True))
    variants = [
        np_reference(inputs, True, True, True, per_sample=False),
        np_reference(inputs, True, True, False),
        np_reference(inputs, False, True, True),
        np_reference(inputs, True, False, True),
    ]
    for other in variants:
        assert np.abs(np.array(other) - full).max() > 1e-4 * np.abs(
            full).max()


def test_level_checks():
    with pytest.raises(ValueError, match=r'levels \[5\]'):
        IFKDDistillLoss(fdr_levels=(0, 5))
    with pytest.raises(ValueError, match='hsm_input'):
        IFKDDistillLoss(hsm_input='teacher')
    model = build(True, True, True)
    feats = [torch.zeros(2, CHANNELS, 8, 8, dtype=torch.float64)]
    with pytest.raises(ValueError, match='distils 2 levels'):
        model(feats, feats, feats, feats)
