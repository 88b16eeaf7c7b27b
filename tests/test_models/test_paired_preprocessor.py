"""PairedDetDataPreprocessor: per-modality normalisation against numpy."""
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample

from mmosar.registry import MODELS

OPT_MEAN, OPT_STD = [68.29, 69.73, 63.82], [42.03, 40.42, 40.30]
SAR_MEAN, SAR_STD = [95.70], [49.41]


def sample(channels):
    data_sample = DetDataSample()
    data_sample.set_metainfo(dict(modality_channels=channels))
    return data_sample


def build(**kwargs):
    cfg = dict(
        type='PairedDetDataPreprocessor',
        mean=dict(optical=OPT_MEAN, sar=SAR_MEAN),
        std=dict(optical=OPT_STD, sar=SAR_STD))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def reference(img, sar_bands, bgr_to_rgb):
    """numpy: reverse optical bands, then (x - mean) / std per band."""
    img = img.astype(np.float64)
    optical = img[:3][::-1] if bgr_to_rgb else img[:3]
    out_opt = (optical - np.array(OPT_MEAN)[:, None, None]
               ) / np.array(OPT_STD)[:, None, None]
    out_sar = (img[3:] - SAR_MEAN[0]) / SAR_STD[0]
    assert out_sar.shape[0] == sar_bands
    return np.concatenate([out_opt, out_sar])


@pytest.mark.parametrize('sar_bands', [1, 3])
@pytest.mark.parametrize('bgr_to_rgb', [True, False])
def test_per_modality_normalisation_and_padding(sar_bands, bgr_to_rgb):
    rng = np.random.RandomState(0)
    images = [
        rng.randint(0, 256, (3 + sar_bands, 10, 13)).astype(np.uint8),
        rng.randint(0, 256, (3 + sar_bands, 12, 9)).astype(np.uint8)
    ]
    channels = dict(optical=3, sar=sar_bands)
    preprocessor = build(
        bgr_to_rgb=bgr_to_rgb, pad_size_divisor=8, pad_value=0)
    out = preprocessor(
        dict(
            inputs=[torch.from_numpy(img) for img in images],
            data_samples=[sample(channels), sample(channels)]))
    inputs = out['inputs']
    assert tuple(inputs.shape) == (2, 3 + sar_bands, 16, 16)
    for i, img in enumerate(images):
        h, w = img.shape[1:]
        np.testing.assert_allclose(
            inputs[i, :, :h, :w].numpy(),
            reference(img, sar_bands, bgr_to_rgb),
            rtol=1e-5,
            atol=1e-5)
        assert (inputs[i, :, h:] == 0).all() and (inputs[i, :, :, w:]
                                                  == 0).all()
    for data_sample in out['data_samples']:
        assert data_sample.batch_input_shape == (16, 16)


def test_batched_tensor_and_fallback_channels():
    rng = np.random.RandomState(1)
    batch = rng.randint(0, 256, (2, 4, 8, 8)).astype(np.uint8)
    preprocessor = build(
        bgr_to_rgb=True, modality_channels=dict(optical=3, sar=1))
    out = preprocessor(dict(inputs=torch.from_numpy(batch), data_samples=None))
    for i in range(2):
        np.testing.assert_allclose(
            out['inputs'][i].numpy(),
            reference(batch[i], 1, True),
            rtol=1e-5,
            atol=1e-5)


def test_no_normalisation_and_released_scaling():
    img = torch.arange(4 * 2 * 2, dtype=torch.uint8).view(4, 2, 2)
    plain = MODELS.build(dict(type='PairedDetDataPreprocessor'))(
        dict(inputs=[img], data_samples=[sample(dict(optical=3, sar=1))]))
    assert torch.equal(plain['inputs'][0], img.float())
    # released E2E-OSDet scaling: divide everything by 255
    scaled = MODELS.build(
        dict(
            type='PairedDetDataPreprocessor',
            mean=dict(optical=[0], sar=[0]),
            std=dict(optical=[255], sar=[255])))(
                dict(
                    inputs=[img],
                    data_samples=[sample(dict(optical=3, sar=1))]))
    torch.testing.assert_close(scaled['inputs'][0], img.float() / 255)


def test_errors():
    img = torch.zeros(4, 4, 4, dtype=torch.uint8)
    preprocessor = build()
    with pytest.raises(ValueError, match='same modality_channels'):
        preprocessor(
            dict(
                inputs=[img, torch.zeros(4, 4, 4)],
                data_samples=[
                    sample(dict(optical=3, sar=1)),
                    sample(dict(optical=2, sar=2))
                ]))
    with pytest.raises(ValueError, match='4 bands'):
        preprocessor(
            dict(inputs=[img], data_samples=[sample(dict(optical=3, sar=3))]))
    with pytest.raises(ValueError, match='needs modality_channels'):
        preprocessor(dict(inputs=[img], data_samples=None))
    with pytest.raises(ValueError, match='mean/std have 2 values'):
        build(
            mean=dict(optical=OPT_MEAN, sar=[1, 2]),
            std=dict(optical=OPT_STD, sar=[1, 2]))(
                dict(
                    inputs=[img],
                    data_samples=[sample(dict(optical=3, sar=1))]))
    with pytest.raises(ValueError, match='same modalities'):
        build(std=dict(optical=OPT_STD))
