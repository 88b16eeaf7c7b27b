"""EDE generator, cached-mask batching and the MobileSAM external model."""
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import PixelData

from mmosar.models.distillers import (
    ConvMaskPredictor,
    ExternalDisturbanceEnhancement,
    MobileSAMMaskPredictor,
    load_external_weights,
)
from mmosar.models.distillers.ifkd_distiller import pad_cached_masks


def test_ede_resizes_mask_and_applies_generator():
    torch.manual_seed(0)
    ede = ExternalDisturbanceEnhancement(channels=4, residual=True)
    t = torch.randn(2, 4, 5, 6)
    # a constant mask stays constant after bilinear resizing
    mask = torch.full((2, 1, 40, 48), 0.25)
    expected = t + ede.generator(0.25 * t)
    assert torch.allclose(ede(t, mask), expected, atol=1e-6)
    ede.residual = False
    assert torch.allclose(ede(t, mask), ede.generator(0.25 * t), atol=1e-6)
    add = ExternalDisturbanceEnhancement(channels=4, combine='add')
    assert torch.allclose(
        add(t, mask), t + add.generator(t + 0.25), atol=1e-6)


def test_cached_masks_are_padded_to_the_batch():
    samples = []
    for h, w, value in ((4, 6, 255), (3, 5, 51)):
        s = DetDataSample()
        s.gt_sem_seg = PixelData(
            sem_seg=torch.full((1, h, w), value, dtype=torch.uint8))
        samples.append(s)
    out = pad_cached_masks(samples, (8, 8), torch.device('cpu'))
    assert out.shape == (2, 1, 8, 8)
    assert out[0, 0, :4, :6].eq(1).all() and out[0, 0, 4:].eq(0).all()
    assert torch.allclose(out[1, 0, :3, :5], torch.tensor(0.2))
    assert out[1, 0, :, 5:].eq(0).all()
    with pytest.raises(KeyError, match='cache_ede_masks'):
        pad_cached_masks([DetDataSample()], (8, 8), torch.device('cpu'))


def test_conv_mask_predictor_loads_local_weights(tmp_path):
    src = ConvMaskPredictor(width=4, depth=2)
    path = tmp_path / 'ext.pth'
    torch.save({'state_dict': src.state_dict()}, path)
    dst = ConvMaskPredictor(width=4, depth=2, checkpoint=str(path))
    for a, b in zip(src.parameters(), dst.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(FileNotFoundError):
        ConvMaskPredictor(checkpoint=str(tmp_path / 'missing.pth'))
    torch.save({'layers.0.weight': torch.zeros(1)}, tmp_path / 'bad.pth')
    with pytest.raises(ValueError, match='bad.pth: does not fit'):
        load_external_weights(
            ConvMaskPredictor(width=4, depth=2), str(tmp_path / 'bad.pth'))
    torch.save({'other.weight': torch.zeros(1)}, tmp_path / 'other.pth')
    with pytest.raises(KeyError, match='missing'):
        load_external_weights(
            ConvMaskPredictor(width=4, depth=2), str(tmp_path / 'other.pth'))


def test_mobile_sam_shapes_and_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(0)
    # img_size 128: 32 -> 16 -> 8 token grids, windows (7 / 14) padded
    sam = MobileSAMMaskPredictor(img_size=128).eval()
    images = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        logits = sam(images)
    # longest side 64 -> 128; low-res masks are img_size / 4 = 32 wide
    assert logits.shape == (1, 1, 24, 32)
    assert torch.isfinite(logits).all()
    # a mobile_sam.pt-like file: our keys plus unused prompt-encoder ones
    state = dict(sam.state_dict())
    state['prompt_encoder.point_embeddings.0.weight'] = torch.zeros(1, 256)
    state['image_encoder.head.weight'] = torch.zeros(1000, 320)
    path = tmp_path / 'mobile_sam.pt'
    torch.save(state, path)
    loaded = MobileSAMMaskPredictor(checkpoint=str(path), img_size=128)
    assert len(loaded.extra_checkpoint_keys) == 2
    with torch.no_grad():
        assert torch.allclose(loaded.eval()(images), logits, atol=1e-5)


def test_mobile_sam_vit_t_size():
    sam = MobileSAMMaskPredictor()
    n_enc = sum(p.numel() for p in sam.image_encoder.parameters())
    n_dec = sum(p.numel() for p in sam.mask_decoder.parameters())
    # TinyViT-5M encoder (MobileSAM paper: 5.78M) and SAM's ~4M decoder
    assert 5.5e6 < n_enc < 6.0e6
    assert 3.8e6 < n_dec < 4.2e6
