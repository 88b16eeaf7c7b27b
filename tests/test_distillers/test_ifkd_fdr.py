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


def test_all_pass_identity_filter_returns_input():
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


def test_normalised_filter_cannot_collapse():
    fdr = FrequencyDomainReconstruction(channels=3, ratio=0.2)
    x, frs = torch.randn(1, 3, 6, 6), torch.rand(1, 6, 6)
    before = fdr(x, frs)
    with torch.no_grad():
        fdr.filter_weight.mul_(1e-3)  # shrinking w changes nothing
    assert torch.allclose(fdr(x, frs), before, atol=1e-4)
    # the raw (unnormalised) filter would shrink the output
    raw = FrequencyDomainReconstruction(channels=3, normalize_filter=False)
    with torch.no_grad():
        raw.filter_weight.mul_(1e-3)
    assert raw(x, frs).abs().max() < 1e-2 * x.abs().max()


def test_student_only_filter_leaves_teacher_unfiltered():
    fdr = FrequencyDomainReconstruction(
        channels=2, ratio=100.0, filter_branch='student')
    with torch.no_grad():
        fdr.filter_weight.copy_(torch.tensor([1.0, 3.0]))
    x, ones = torch.randn(1, 2, 5, 5), torch.ones(1, 5, 5)
    assert torch.allclose(fdr(x, ones, is_teacher=True), x, atol=1e-5)
    # normalised weights 0.5 and 1.5
    assert torch.allclose(fdr(x, ones)[:, 1], 1.5 * x[:, 1], atol=1e-5)


def test_released_impl():
    fdr = FrequencyDomainReconstruction(channels=4, impl='released', p=1.0)
    x = torch.randn(2, 4, 6, 6)
    out = fdr(x, torch.rand(2, 6, 6))
    assert out.shape == x.shape and (out >= 0).all()
    with pytest.raises(ValueError, match='square'):
        fdr(torch.randn(1, 4, 6, 8), torch.rand(1, 6, 8))
    # without the edit the output is |w| * |x| (released p branch)
    fdr.p = 0.0
    w = torch.view_as_complex(fdr.filter_weight.detach()).abs()
    assert torch.allclose(
        fdr(x, torch.rand(2, 6, 6)), w[None, :, None, None] * x.abs(),
        atol=1e-6)


def test_bad_options():
    with pytest.raises(ValueError):
        FrequencyDomainReconstruction(impl='nope')
    with pytest.raises(ValueError):
        FrequencyDomainReconstruction(filter_branch='teacher')
