"""FDR (frequency domain reconstruction) against numpy FFT references."""
import numpy as np
import pytest
import torch

from mmosar.models.distillers import (
    FrequencyDomainReconstruction,
    low_pass,
    low_pass_window,
)


def np_window(h, w, ratio):
    half = ratio * min(h, w) / 2
    mask = np.zeros((h, w))
    for u in range(h):
        for v in range(w):
            if max(abs(u - h // 2), abs(v - w // 2)) <= half:
                mask[u, v] = 1
    return mask


def np_low_pass(x, ratio):
    spec = np.fft.fftshift(np.fft.fft2(x, axes=(-2, -1)), axes=(-2, -1))
    spec = spec * np_window(*x.shape[-2:], ratio)
    return np.fft.ifft2(
        np.fft.ifftshift(spec, axes=(-2, -1)), axes=(-2, -1)).real


def test_window_is_centred_square():
    win = low_pass_window(10, 10, 0.4).numpy()  # half side 2
    np.testing.assert_array_equal(win, np_window(10, 10, 0.4))
    assert win.sum() == 25 and win[5, 5] == 1 and win[3, 3] == 1
    assert win[2, 5] == 0


@pytest.mark.parametrize('shape,ratio', [((6, 10), 0.5), ((9, 9), 0.3),
                                         ((8, 12), 0.1)])
def test_low_pass_matches_numpy(shape, ratio):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, *shape))
    got = low_pass(torch.tensor(x), ratio).numpy()
    np.testing.assert_allclose(got, np_low_pass(x, ratio), atol=1e-10)


def test_all_pass_window_returns_input():
    fdr = FrequencyDomainReconstruction(channels=4, ratio=100.0)
    x = torch.randn(2, 4, 7, 9)
    out = fdr(x, torch.ones(2, 7, 9))
    assert torch.allclose(out, x, atol=1e-5)
    # an all-ones FRS mask with the real window is also the identity
    fdr_lp = FrequencyDomainReconstruction(channels=4, ratio=0.1)
    assert torch.allclose(fdr_lp(x, torch.ones(2, 7, 9)), x, atol=1e-5)


def test_reconstruction_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, 2, 8, 8))
    frs = rng.uniform(size=(1, 8, 8))
    ratio = 0.5
    # reference: high part + low part re-weighted in space by the FRS mask
    low = np_low_pass(x, ratio)
    expected = (x - low) + low * frs[:, None]
    fdr = FrequencyDomainReconstruction(channels=2, ratio=ratio).double()
    got = fdr(torch.tensor(x), torch.tensor(frs))
    np.testing.assert_allclose(got.detach().numpy(), expected, atol=1e-8)


def hard_easy_pair(channels=16, size=16):
    """Teacher ``T`` and student ``S``: the first half of the channels is
    easy (``S = T + 0.1 noise``), the second half hard (``S`` independent
    of ``T``), so the distillation signal sits in the hard channels."""
    g = torch.Generator().manual_seed(0)
    shape = (2, channels, size, size)
    t = torch.randn(shape, generator=g, dtype=torch.float64)
    s = t + 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
    s[:, channels // 2:] = torch.randn(
        (2, channels // 2, size, size), generator=g, dtype=torch.float64)
    frs = torch.rand((2, size, size), generator=g, dtype=torch.float64)
    return t, s, frs


def train_filter_alone(fdr, t, s, frs, steps=300):
    """SGD on the FDR parameters only, features fixed; returns the loss
    before and after and the per-channel factor the filter puts on each
    channel's squared difference (normalised to mean 1)."""
    def loss():
        return ((fdr(t, frs, is_teacher=True, edit=True) -
                 fdr(s, frs, edit=True))**2).mean()

    def channel_weight():
        w = fdr.channel_filter()
        if w is None:
            return torch.ones(t.shape[1], dtype=torch.float64)
        w = w.detach().abs()
        # both sides filtered: the loss of channel c scales with |w_c|^2;
        # student side only: the student's gradient scales with |w_c|
        w = w if fdr.impl == 'paper' and fdr.filter == 'student' else w**2
        return w / w.mean()

    with torch.no_grad():
        before = float(loss())
    params = list(fdr.parameters())
    if params:
        optim = torch.optim.SGD(params, lr=0.5)
        for _ in range(steps):
            optim.zero_grad()
            loss().backward()
            optim.step()
    with torch.no_grad():
        after = float(loss())
    return before, after, channel_weight()


@pytest.mark.parametrize('kwargs', [
    dict(impl='released'),
    dict(impl='paper', filter='shared'),
    dict(impl='paper', filter='student'),
])
def test_learnable_filters_drift_onto_the_easy_channels(kwargs):
    """Trained alone on fixed features, a learnable filter lowers the loss
    with no change of the student by moving its weight off the hard
    channels (issue 15 point 7; the released filter does too)."""
    t, s, frs = hard_easy_pair()
    torch.manual_seed(0)
    fdr = FrequencyDomainReconstruction(channels=16, **kwargs).double()
    before, after, weight = train_filter_alone(fdr, t, s, frs)
    hard_share = float(weight[8:].sum() / weight.sum())
    assert after < 0.8 * before
    assert hard_share < 0.3  # from 0.5 (released: ~0.5 at its random init)


def test_fixed_filter_keeps_every_channel_weight():
    """The default filter has nothing to train: after the same procedure
    the loss, the output and the equal channel weights are unchanged."""
    t, s, frs = hard_easy_pair()
    fdr = FrequencyDomainReconstruction(channels=16).double()
    assert fdr.filter == 'fixed' and not list(fdr.parameters())
    out = fdr(s, frs)
    before, after, weight = train_filter_alone(fdr, t, s, frs)
    assert after == before
    assert torch.equal(weight, torch.ones(16, dtype=torch.float64))
    assert torch.equal(fdr(s, frs), out)
    # with an all-ones FRS mask the fixed FDR is the identity
    assert torch.allclose(fdr(s, torch.ones_like(frs)), s, atol=1e-12)


def test_student_only_filter_leaves_teacher_unfiltered():
    fdr = FrequencyDomainReconstruction(
        channels=2, ratio=100.0, filter='student')
    with torch.no_grad():
        fdr.filter_weight.copy_(torch.tensor([1.0, 3.0]))
    x, ones = torch.randn(1, 2, 5, 5), torch.ones(1, 5, 5)
    assert torch.allclose(fdr(x, ones, is_teacher=True), x, atol=1e-5)
    # normalised weights 0.5 and 1.5
    assert torch.allclose(fdr(x, ones)[:, 1], 1.5 * x[:, 1], atol=1e-5)


def test_released_impl_skip_branch_and_square_maps():
    """Released FDR (the edit branch is checked against the fixture by
    test_ifkd_equivalence.py): without the edit it is ``|w_c| |x|``."""
    fdr = FrequencyDomainReconstruction(channels=4, impl='released').double()
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    w = torch.view_as_complex(fdr.filter_weight.detach())[0].abs()
    assert torch.allclose(
        fdr(x, torch.rand(2, 6, 6), edit=False),
        w[None, :, None, None] * x.abs(), atol=1e-15)
    with pytest.raises(ValueError, match='square'):
        fdr(torch.randn(1, 4, 6, 8), torch.rand(1, 6, 8), edit=True)


def test_bad_options():
    with pytest.raises(ValueError):
        FrequencyDomainReconstruction(impl='nope')
    with pytest.raises(ValueError):
        FrequencyDomainReconstruction(filter='teacher')
