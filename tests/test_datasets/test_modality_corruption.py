"""ModalityCorruption against numpy / scipy references."""
import numpy as np
import pytest
from scipy import ndimage

from mmosar.datasets.transforms import ModalityCorruption


def _pair(seed=0, h=48, w=40):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 6)).astype(np.uint8)
    return dict(img=img, img_path=f'/data/{seed}.jpg',
                modality_channels=dict(optical=3, sar=3))


def _apply(condition, modality='sar', severity=1.0, seed=0, results=None):
    results = results or _pair()
    original = results['img'].copy()
    out = ModalityCorruption(condition, modality, severity, seed)(results)
    return original.astype(np.float64), out['img'].astype(np.float64)


def test_other_modality_is_untouched_and_none_is_identity():
    for condition in ('zero', 'noise', 'speckle', 'haze', 'cloud', 'shift'):
        sev = 0.5 if condition in ('haze', 'cloud') else 2.0
        original, out = _apply(condition, 'sar', sev)
        np.testing.assert_array_equal(out[..., :3], original[..., :3])
        assert not np.array_equal(out[..., 3:], original[..., 3:])
    original, out = _apply('none')
    np.testing.assert_array_equal(out, original)


def test_zero_noise_haze_closed_forms():
    original, out = _apply('zero', 'optical')
    assert (out[..., :3] == 0).all()
    _, out = _apply('noise', 'sar')
    assert out[..., 3:].min() >= 0 and out[..., 3:].max() <= 255
    # U[0, 255): mean 127.5, std 255 / sqrt(12)
    assert abs(out[..., 3:].mean() - 127.5) < 3
    assert abs(out[..., 3:].std() - 255 / 12 ** 0.5) < 3
    original, out = _apply('haze', 'optical', 0.3)
    # uint8 in, uint8 out: rounded
    np.testing.assert_array_equal(
        out[..., :3], np.rint(0.7 * original[..., :3] + 76.5))


def test_speckle_is_unit_mean_gamma_with_one_over_looks_variance():
    def flat_sar():
        results = _pair(h=200, w=200)
        results['img'] = results['img'].astype(np.float32)
        results['img'][..., 3:] = 100  # flat SAR: the output is 100 * g
        return results

    _, out = _apply('speckle', 'sar', 4.0, results=flat_sar())
    g = out[..., 3] / 100
    np.testing.assert_array_equal(out[..., 3], out[..., 5])  # shared by bands
    assert abs(g.mean() - 1) < 0.02
    assert abs(g.var() - 1 / 4) < 0.02
    _, out_again = _apply('speckle', 'sar', 4.0, results=flat_sar())
    np.testing.assert_array_equal(out_again, out)  # same image, same draw


def test_cloud_covers_the_requested_fraction():
    results = _pair(h=128, w=128)
    results['img'] = results['img'].astype(np.float32)
    results['img'][..., :3] = 0
    _, out = _apply('cloud', 'optical', 0.3, results=results)
    cloud = out[..., 0] / 255
    assert abs((cloud > 0).mean() - 0.3) < 0.01
    assert cloud.max() == pytest.approx(1.0)


@pytest.mark.parametrize('offset', [2.0, 0.5, 3.25, -1.5])
def test_shift_matches_scipy_bilinear(offset):
    original, out = _apply('shift', 'sar', offset)
    # (dx, dy) = (s, s / 2); scipy's shift takes (dy, dx) per axis
    reference = ndimage.shift(original[..., 3:], (offset / 2, offset, 0),
                              order=1, mode='nearest')
    # the 8-bit pair stays 8-bit: the result is the rounded reference
    np.testing.assert_allclose(out[..., 3:], reference, atol=0.5 + 1e-3)
    float_results = _pair()
    float_results['img'] = float_results['img'].astype(np.float32)
    _, out = _apply('shift', 'sar', offset, results=float_results)
    np.testing.assert_allclose(out[..., 3:], reference, atol=1e-3)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='unknown condition'):
        ModalityCorruption('fog')
    with pytest.raises(ValueError, match='positive number of looks'):
        ModalityCorruption('speckle', severity=0)
    with pytest.raises(KeyError, match="no modality 'infrared'"):
        _apply('zero', 'infrared')
