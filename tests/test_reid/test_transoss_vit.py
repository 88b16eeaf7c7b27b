"""TransOSSViT: dual-head routing, size token, checkpoint loading."""
import copy

import pytest
import torch
import torch.nn.functional as F

from mmosar.models.backbones import TransOSSViT

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _tiny(**kwargs):
    cfg = dict(arch=TINY, img_size=(32, 16), patch_size=8,
               drop_path_rate=0.0)
    cfg.update(kwargs)
    model = TransOSSViT(**cfg)
    model.init_weights()
    return model.eval()


def test_patch_embedding_routing():
    torch.manual_seed(0)
    model = _tiny(with_size_token=False)
    x = torch.rand(3, 3, 32, 16)
    modalities = torch.tensor([1, 0, 1])  # SAR, optical, SAR
    with torch.no_grad():
        before = model(x, modalities)[0]
        # Batch routing keeps the input order: each sample alone gives the
        # same feature.
        for i in range(3):
            alone = model(x[i:i + 1], modalities[i:i + 1])[0]
            torch.testing.assert_close(alone[0], before[i])
        # A constant shift would be removed by the LayerNorms: use noise.
        weight = model.patch_embed_sar.projection.weight
        weight.add_(torch.randn_like(weight))
        after = model(x, modalities)[0]
    torch.testing.assert_close(after[1], before[1])  # optical unchanged
    assert not torch.allclose(after[0], before[0], atol=1e-4)
    assert not torch.allclose(after[2], before[2], atol=1e-4)


def test_modality_embedding_is_scaled_and_used():
    torch.manual_seed(0)
    model = _tiny(with_size_token=False)
    # Same weights in both heads: only the modality embedding differs.
    model.patch_embed_sar.load_state_dict(model.patch_embed.state_dict())
    x = torch.rand(1, 3, 32, 16).repeat(2, 1, 1, 1)
    with torch.no_grad():
        out = model(x, torch.tensor([0, 1]))[0]
        assert not torch.allclose(out[0], out[1], atol=1e-4)
        model.modality_embed.copy_(model.modality_embed[:1].repeat(2, 1, 1))
        out = model(x, torch.tensor([0, 1]))[0]
    torch.testing.assert_close(out[0], out[1])


def test_size_token_changes_output():
    torch.manual_seed(0)
    model = _tiny(with_size_token=True)
    x = torch.rand(1, 3, 32, 16).repeat(3, 1, 1, 1)
    sizes = torch.tensor([[0.1, 0.2, 3.0], [0.1, 0.2, 3.0], [-1.0, 2.0, 1.5]])
    with torch.no_grad():
        out = model(x, torch.zeros(3, dtype=torch.long), sizes)[0]
    torch.testing.assert_close(out[0], out[1])
    assert not torch.allclose(out[0], out[2], atol=1e-4)
    with pytest.raises(ValueError, match='ship_sizes'):
        model(x, torch.zeros(3, dtype=torch.long))


def test_bad_modality_id():
    model = _tiny(with_size_token=False)
    with pytest.raises(ValueError, match='modality ids'):
        model(torch.rand(1, 3, 32, 16), torch.tensor([2]))


def _timm_state_dict(dims=32, layers=2, grid=14):
    """A timm-format ViT state dict (random values) for the tiny arch."""
    g = torch.Generator().manual_seed(1)

    def r(*shape):
        return torch.randn(*shape, generator=g)

    sd = {
        'cls_token': r(1, 1, dims),
        'pos_embed': r(1, grid * grid + 1, dims),
        'patch_embed.proj.weight': r(dims, 3, 16, 16),
        'patch_embed.proj.bias': r(dims),
        'norm.weight': r(dims),
        'norm.bias': r(dims),
        'head.weight': r(1000, dims),
        'head.bias': r(1000),
    }
    for i in range(layers):
        p = f'blocks.{i}.'
        sd.update({
            p + 'norm1.weight': r(dims), p + 'norm1.bias': r(dims),
            p + 'attn.qkv.weight': r(3 * dims, dims),
            p + 'attn.qkv.bias': r(3 * dims),
            p + 'attn.proj.weight': r(dims, dims),
            p + 'attn.proj.bias': r(dims),
            p + 'norm2.weight': r(dims), p + 'norm2.bias': r(dims),
            p + 'mlp.fc1.weight': r(64, dims), p + 'mlp.fc1.bias': r(64),
            p + 'mlp.fc2.weight': r(dims, 64), p + 'mlp.fc2.bias': r(dims),
        })
    return sd


def _check_loaded(model, sd):
    # 14x14 ImageNet grid -> 16x8 at 256x128, class token kept.
    pos = model.pos_embed.detach()
    assert pos.shape == (1, 16 * 8 + 1, 32)
    torch.testing.assert_close(pos[:, 0], sd['pos_embed'][:, 0])
    grid = sd['pos_embed'][:, 1:].reshape(1, 14, 14, 32).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(16, 8), mode='bilinear',
                             align_corners=False)
    torch.testing.assert_close(pos[:, 1:],
                               expected.flatten(2).transpose(1, 2))
    # Both patch heads start from the optical (ImageNet) one.
    for head in (model.patch_embed, model.patch_embed_sar):
        torch.testing.assert_close(head.projection.weight.detach(),
                                   sd['patch_embed.proj.weight'])
    assert model.patch_embed_sar.projection.weight is not \
        model.patch_embed.projection.weight
    torch.testing.assert_close(model.layers[1].attn.qkv.weight.detach(),
                               sd['blocks.1.attn.qkv.weight'])
    torch.testing.assert_close(
        model.layers[0].ffn.layers[0][0].weight.detach(),
        sd['blocks.0.mlp.fc1.weight'])
    torch.testing.assert_close(model.layers[0].ffn.layers[1].weight.detach(),
                               sd['blocks.0.mlp.fc2.weight'])
    torch.testing.assert_close(model.ln1.weight.detach(), sd['norm.weight'])


def test_load_timm_checkpoint_with_pos_embed_resize(tmp_path):
    sd = _timm_state_dict()
    path = tmp_path / 'vit_timm.pth'
    torch.save(copy.deepcopy(sd), path)
    model = TransOSSViT(
        arch=TINY, img_size=(256, 128), patch_size=16,
        init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    _check_loaded(model, sd)


def test_load_mmpretrain_checkpoint(tmp_path):
    sd = _timm_state_dict()
    # Same weights in mmpretrain naming, inside a full-model checkpoint.
    src = TransOSSViT(arch=TINY, img_size=(224, 224), patch_size=16,
                      with_size_token=False)
    src.load_state_dict(copy.deepcopy(sd), strict=False)
    mm_sd = {f'backbone.{k}': v for k, v in src.state_dict().items()
             if not k.startswith(('patch_embed_sar', 'modality_embed'))}
    path = tmp_path / 'vit_mmpretrain.pth'
    torch.save({'state_dict': mm_sd}, path)
    model = TransOSSViT(
        arch=TINY, img_size=(256, 128), patch_size=16,
        init_cfg=dict(type='Pretrained', checkpoint=str(path),
                      prefix='backbone.'))
    model.init_weights()
    _check_loaded(model, sd)
