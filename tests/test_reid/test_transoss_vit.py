"""TransOSSViT: mmpretrain's ViT plus dual-head routing, MIE, SSE; strict
checkpoint loading."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.backbones import VisionTransformer

from mmosar.models.backbones import TransOSSViT
from mmosar.utils.checkpoint import StateDictMismatchError

TINY = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)
TRANSOSS_ONLY = {
    'patch_embed_sar.projection.weight', 'patch_embed_sar.projection.bias',
    'modality_embed', 'size_embed.weight', 'size_embed.bias'
}


def _tiny(**kwargs):
    cfg = dict(arch=TINY, img_size=(32, 16), patch_size=8,
               drop_path_rate=0.0)
    cfg.update(kwargs)
    model = TransOSSViT(**cfg)
    model.init_weights()
    model.eval()  # mmpretrain's BaseBackbone.train returns None
    return model


def test_mmpretrain_part_has_mmpretrain_names():
    ours = _tiny()
    reference = VisionTransformer(arch=TINY, img_size=(32, 16), patch_size=8,
                                  norm_cfg=dict(type='LN', eps=1e-6))
    assert isinstance(ours, VisionTransformer)
    ours_keys, ref_keys = set(ours.state_dict()), set(reference.state_dict())
    assert ref_keys <= ours_keys
    assert ours_keys - ref_keys == TRANSOSS_ONLY


def test_equals_mmpretrain_vit_without_transoss_parts():
    """Optical only, zero modality embedding, no size token: mmpretrain's
    VisionTransformer with the same weights is the reference."""
    torch.manual_seed(0)
    ours = _tiny(with_size_token=False)
    reference = VisionTransformer(arch=TINY, img_size=(32, 16), patch_size=8,
                                  norm_cfg=dict(type='LN', eps=1e-6),
                                  interpolate_mode='bilinear')
    reference.eval()
    reference.load_state_dict(
        {k: v for k, v in ours.state_dict().items()
         if k in reference.state_dict()})
    with torch.no_grad():
        ours.modality_embed.zero_()
        x = torch.rand(3, 3, 48, 24)  # another grid: pos_embed is resized
        torch.testing.assert_close(
            ours(x, torch.zeros(3, dtype=torch.long))[0], reference(x)[0])


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


def test_token_sequence_by_hand():
    """z0 = [cls; E_m(x)] + P + 3 M_m, then the size token W s + b."""
    torch.manual_seed(0)
    model = _tiny(modality_embed_scale=3.0).double()
    x = torch.rand(2, 3, 32, 16, dtype=torch.float64)
    mods = torch.tensor([1, 0])
    sizes = torch.rand(2, 3, dtype=torch.float64)
    with torch.no_grad():
        tokens, grid = model.embed_tokens(x, mods, sizes)
    assert grid == (4, 2) and tokens.shape == (2, 1 + 8 + 1, 32)
    for i, m in enumerate(mods.tolist()):
        conv = model.patch_embed_sar.projection if m else \
            model.patch_embed.projection
        patches = F.conv2d(x[i:i + 1], conv.weight, conv.bias, stride=8)
        seq = torch.cat((model.cls_token[0],
                         patches.flatten(2).transpose(1, 2)[0]))
        seq = seq + model.pos_embed[0] + 3.0 * model.modality_embed[m]
        size = sizes[i] @ model.size_embed.weight.t() + model.size_embed.bias
        torch.testing.assert_close(tokens[i, :-1], seq)
        torch.testing.assert_close(tokens[i, -1], size)


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


def test_bad_modality_id_and_out_type():
    model = _tiny(with_size_token=False)
    with pytest.raises(ValueError, match='modality ids'):
        model(torch.rand(1, 3, 32, 16), torch.tensor([2]))
    with pytest.raises(ValueError, match='out_type'):
        _tiny(out_type='featmap')


def _timm_state_dict(dims=32, layers=2, grid=14):
    """A timm-format ImageNet ViT state dict (random values), tiny arch."""
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
    # 14x14 ImageNet grid -> 16x8 at 256x128 (bilinear, as the release),
    # class token kept.
    pos = model.pos_embed.detach()
    assert pos.shape == (1, 16 * 8 + 1, 32)
    torch.testing.assert_close(pos[:, 0], sd['pos_embed'][:, 0])
    grid = sd['pos_embed'][:, 1:].reshape(1, 14, 14, 32).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(16, 8), mode='bilinear',
                             align_corners=False)
    torch.testing.assert_close(pos[:, 1:],
                               expected.flatten(2).transpose(1, 2))
    torch.testing.assert_close(model.layers[1].attn.qkv.weight.detach(),
                               sd['blocks.1.attn.qkv.weight'])
    torch.testing.assert_close(
        model.layers[0].ffn.layers[0][0].weight.detach(),
        sd['blocks.0.mlp.fc1.weight'])
    torch.testing.assert_close(model.layers[0].ffn.layers[1].weight.detach(),
                               sd['blocks.0.mlp.fc2.weight'])
    torch.testing.assert_close(model.ln1.weight.detach(), sd['norm.weight'])


def _timm_init_cfg(path, **kwargs):
    cfg = dict(type='Pretrained', checkpoint=str(path), converter='transoss',
               converter_cfg=dict(target='pretrain'), prefix='backbone.',
               allowed_missing=['modality_embed'])
    cfg.update(kwargs)
    return cfg


def test_load_timm_checkpoint_through_converter(tmp_path):
    sd = _timm_state_dict()
    path = tmp_path / 'vit_timm.pth'
    torch.save(copy.deepcopy(sd), path)
    model = TransOSSViT(arch=TINY, img_size=(256, 128), patch_size=16,
                        with_size_token=False,
                        init_cfg=_timm_init_cfg(path))
    model.init_weights()
    _check_loaded(model, sd)
    # The SAR head starts as a copy of the optical one (released).
    torch.testing.assert_close(model.patch_embed_sar.projection.weight,
                               sd['patch_embed.proj.weight'])
    assert model.patch_embed_sar.projection.weight.data_ptr() != \
        model.patch_embed.projection.weight.data_ptr()


def test_strict_loading_lists_missing_and_unknown_keys(tmp_path):
    sd = _timm_state_dict()
    path = tmp_path / 'vit_timm.pth'
    torch.save(sd, path)
    model = TransOSSViT(arch=TINY, img_size=(256, 128), patch_size=16,
                        init_cfg=_timm_init_cfg(path))
    # The size token is not in an ImageNet checkpoint and not allowed.
    with pytest.raises(StateDictMismatchError,
                       match=r'missing in the weights \(2\)[\s\S]*'
                       r'size_embed.bias[\s\S]*size_embed.weight'):
        model.init_weights()
    sd['blocks.0.ls1.gamma'] = torch.ones(32)
    torch.save(sd, path)
    model = TransOSSViT(arch=TINY, img_size=(256, 128), patch_size=16,
                        with_size_token=False,
                        init_cfg=_timm_init_cfg(path))
    with pytest.raises(ValueError, match=r'blocks\.0\.ls1\.gamma'):
        model.init_weights()


def test_load_mmpretrain_checkpoint(tmp_path):
    """An mmpretrain ViT checkpoint (mmpretrain names) loads as it is."""
    src = VisionTransformer(arch=TINY, img_size=224, patch_size=16,
                            norm_cfg=dict(type='LN', eps=1e-6))
    src.init_weights()
    path = tmp_path / 'vit_mmpretrain.pth'
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in src.state_dict().items()}}, path)
    model = TransOSSViT(
        arch=TINY, img_size=(256, 128), patch_size=16,
        init_cfg=dict(type='Pretrained', checkpoint=str(path),
                      prefix='backbone.',
                      allowed_missing=['patch_embed_sar.*', 'modality_embed',
                                       'size_embed.*']))
    model.init_weights()
    timm_names = {
        'pos_embed': src.pos_embed, 'norm.weight': src.ln1.weight,
        'blocks.1.attn.qkv.weight': src.layers[1].attn.qkv.weight,
        'blocks.0.mlp.fc1.weight': src.layers[0].ffn.layers[0][0].weight,
        'blocks.0.mlp.fc2.weight': src.layers[0].ffn.layers[1].weight,
    }
    _check_loaded(model, {k: v.detach() for k, v in timm_names.items()})
