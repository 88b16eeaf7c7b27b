"""Released TransOSS checkpoints (full, DDP, backbone-only) -> mmosar."""
import importlib.util
import sys

import pytest
import torch

from mmosar.registry import MODELS
from mmosar.testing.equivalence import fixture_or_skip
from mmosar.utils.checkpoint import (
    StateDictMismatchError,
    load_pretrained_strict,
    load_state_dict_strict,
)
from mmosar.utils.converters.transoss import transoss_conversion

# Released name -> mmosar name, written out by hand from the release's
# module tree (vit_transoss.TransOSS inside make_model.build_transformer).
BY_HAND = {
    'base.cls_token': 'backbone.cls_token',
    'base.mie_embed': 'backbone.modality_embed',
    'base.patch_embed.proj.weight': 'backbone.patch_embed.projection.weight',
    'base.patch_embed_SAR.proj.bias':
    'backbone.patch_embed_sar.projection.bias',
    'base.blocks.11.norm1.weight': 'backbone.layers.11.ln1.weight',
    'base.blocks.3.norm2.bias': 'backbone.layers.3.ln2.bias',
    'base.blocks.0.attn.qkv.weight': 'backbone.layers.0.attn.qkv.weight',
    'base.blocks.7.attn.proj.bias': 'backbone.layers.7.attn.proj.bias',
    'base.blocks.2.mlp.fc1.weight': 'backbone.layers.2.ffn.layers.0.0.weight',
    'base.blocks.2.mlp.fc2.bias': 'backbone.layers.2.ffn.layers.1.bias',
    'base.norm.bias': 'backbone.ln1.bias',
    'base.wh_embed.linear_layer.weight': 'backbone.size_embed.weight',
    'bottleneck.running_var': 'head.bnneck.running_var',
    'bottleneck.num_batches_tracked': 'head.bnneck.num_batches_tracked',
    'classifier.weight': 'head.classifier.weight',
}
# 12 blocks like ViT-B, small widths: the same names as the released model.
NAMES_ARCH = dict(embed_dims=8, num_layers=12, num_heads=2,
                  feedforward_channels=16)


def _tensors(names):
    return {k: torch.full((1, ), float(i)) for i, k in enumerate(names)}


def _reid_model(num_classes=5):
    return MODELS.build(
        dict(type='TransOSS',
             backbone=dict(type='TransOSSViT', arch=NAMES_ARCH,
                           img_size=(32, 16), patch_size=8),
             head=dict(type='BNNeckHead', in_channels=8,
                       num_classes=num_classes)))


def test_names_by_hand():
    out, dropped, _ = transoss_conversion(_tensors(BY_HAND), 'reid')
    assert dropped == []
    for released, ours in BY_HAND.items():
        assert ours in out, released
        torch.testing.assert_close(out[ours], _tensors(BY_HAND)[released])


@pytest.mark.parametrize('ddp', [False, True])
def test_full_model_names_match_the_model(ddp):
    fixture = fixture_or_skip('transoss')
    names = list(fixture.manifest['state_dict'])
    if ddp:
        names = ['module.' + k for k in names]
    out, dropped, _ = transoss_conversion(_tensors(names), 'reid')
    # Named without the DDP prefix, which is stripped first.
    assert dropped == ['base.fc.bias', 'base.fc.weight', 'logit_scale']
    assert set(out) == set(_reid_model().state_dict())


def test_backbone_only_and_pretrain_names():
    fixture = fixture_or_skip('transoss')
    pretrain = list(fixture.manifest['pretrain_model']['state_dict'])
    backbone_only = [k[len('base.'):] for k in pretrain
                     if k.startswith('base.')]  # vit_b512_pre.pth layout
    out, dropped, _ = transoss_conversion(_tensors(backbone_only), 'reid')
    assert dropped == ['fc.bias', 'fc.weight']
    model = _reid_model()
    own = {k[len('backbone.'):] for k in model.state_dict()
           if k.startswith('backbone.')}
    assert {k[len('backbone.'):] for k in out} == \
        own - {'size_embed.weight', 'size_embed.bias'}
    contrastive = MODELS.build(
        dict(type='OptiSarContrastive',
             backbone=dict(type='TransOSSViT', arch=NAMES_ARCH,
                           img_size=(32, 16), patch_size=8,
                           with_size_token=False)))
    out, dropped, _ = transoss_conversion(_tensors(pretrain), 'pretrain')
    assert set(out) == set(contrastive.state_dict())
    assert 'classifier.weight' in dropped and 'logit_scale' not in dropped


def test_unknown_and_mixed_names_are_errors():
    with pytest.raises(ValueError, match='base.blocks.0.attn.q_norm.weight'):
        transoss_conversion(
            _tensors(['base.cls_token', 'base.blocks.0.attn.q_norm.weight']))
    with pytest.raises(ValueError, match="'center'"):
        transoss_conversion(_tensors(['base.cls_token', 'center']))
    with pytest.raises(ValueError, match='target'):
        transoss_conversion({}, 'detector')


def test_released_checkpoint_loads_strictly(tmp_path, repo_root,
                                            monkeypatch):
    """A real-shaped released full checkpoint (DDP) through the CLI, then a
    strict load; a classifier of another size needs an allowance."""
    model = _reid_model(num_classes=5)
    # Whole model: rename through the released names of every key.
    src = tmp_path / 'HOSS_TransOSS.pth'
    full = _released_names(model)
    torch.save({'module.' + k: v for k, v in full.items()}, src)
    dst = tmp_path / 'converted.pth'
    spec = importlib.util.spec_from_file_location(
        'transoss_to_mmosar',
        repo_root / 'tools' / 'model_converters' / 'transoss_to_mmosar.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(sys, 'argv', ['transoss_to_mmosar.py', str(src),
                                      str(dst)])
    tool.main()
    state_dict = torch.load(dst, weights_only=True)['state_dict']
    load_state_dict_strict(model, state_dict, str(dst))
    torch.testing.assert_close(model.backbone.modality_embed,
                               full['base.mie_embed'])
    other = _reid_model(num_classes=7)
    with pytest.raises(StateDictMismatchError, match='head.classifier.weight'):
        load_pretrained_strict(other, str(dst))
    load_pretrained_strict(other, str(dst),
                           allowed_missing=['head.classifier.weight'],
                           allowed_unexpected=['head.classifier.weight'])


def _released_names(model):
    """The model's tensors (random) under the released names."""
    rules = [('backbone.ln1.', 'base.norm.'),
             ('backbone.layers.', 'base.blocks.'), ('.ln1.', '.norm1.'),
             ('.ln2.', '.norm2.'), ('.ffn.layers.0.0.', '.mlp.fc1.'),
             ('.ffn.layers.1.', '.mlp.fc2.'),
             ('backbone.patch_embed.projection.', 'base.patch_embed.proj.'),
             ('backbone.patch_embed_sar.projection.',
              'base.patch_embed_SAR.proj.'),
             ('backbone.modality_embed', 'base.mie_embed'),
             ('backbone.size_embed.', 'base.wh_embed.linear_layer.'),
             ('backbone.', 'base.'),
             ('head.bnneck.', 'bottleneck.'), ('head.classifier.',
                                               'classifier.')]
    out = {}
    for key, value in model.state_dict().items():
        name = key
        for old, new in rules:
            name = name.replace(old, new)
        out[name] = torch.randn_like(value.float()).to(value.dtype) \
            if value.is_floating_point() else value
    out['base.fc.weight'] = torch.randn(1000, 8)
    out['logit_scale'] = torch.tensor(2.6592)
    return out


def _config_model(repo_root, name, arch=NAMES_ARCH, **checkpoint):
    """The model of a TransOSS config at a small width (same key names)."""
    from mmengine.config import Config
    cfg = Config.fromfile(repo_root / 'configs' / 'transoss' / name).model
    cfg.backbone.update(arch=arch, img_size=(32, 16), patch_size=8)
    cfg.backbone.init_cfg.update(checkpoint)
    if 'head' in cfg:
        cfg.head.update(in_channels=arch['embed_dims'], num_classes=3)
    return MODELS.build(cfg)


def test_configs_load_their_released_checkpoints(repo_root, tmp_path):
    """Each config's pretrained path with a file in the released layout it
    names: converted, loaded strictly, only the allowed keys left out."""
    ref = _reid_model()  # weights to write, under released names
    released = _released_names(ref)
    # Fine-tuning: `vit_b512_pre.pth`, stage-1 backbone without `base.`
    # and without the size token.
    vit_b512_pre = {k[len('base.'):]: v for k, v in released.items()
                    if k.startswith('base.') and 'wh_embed' not in k}
    path = tmp_path / 'vit_b512_pre.pth'
    torch.save(vit_b512_pre, path)
    model = _config_model(repo_root, 'transoss_vit-b16_p8k4-200e_hoss.py',
                          checkpoint=str(path))
    model.init_weights()
    torch.testing.assert_close(model.backbone.modality_embed,
                               released['base.mie_embed'])
    torch.testing.assert_close(model.backbone.layers[11].ffn.layers[1].bias,
                               released['base.blocks.11.mlp.fc2.bias'])
    # Stage 1: timm's ImageNet ViT (no SAR head, no modality embedding,
    # `head.*`), pos_embed of a 2x2 grid resized to the 4x2 grid.
    timm = {k: v for k, v in vit_b512_pre.items()
            if not k.startswith(('patch_embed_SAR', 'mie_embed', 'fc.'))}
    timm['pos_embed'] = torch.randn(1, 5, 8)
    timm['head.weight'] = torch.randn(1000, 8)
    path = tmp_path / 'vit_base_p16_224.pth'
    torch.save(timm, path)
    model = _config_model(
        repo_root, 'transoss_vit-b16_4xb128-60e_optisar-pair-pretrain.py',
        checkpoint=str(path))
    model.init_weights()
    torch.testing.assert_close(model.backbone.patch_embed_sar.projection.bias,
                               timm['patch_embed.proj.bias'])
    assert model.backbone.pos_embed.shape == (1, 9, 8)
    # Fine-tuning from mmosar's own stage 1 (OptiSarContrastive names).
    path = tmp_path / 'epoch_60.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    finetune = _config_model(
        repo_root, 'transoss_vit-b16_p8k4-200e_hoss-from-mmosar-pretrain.py',
        checkpoint=str(path))
    finetune.init_weights()
    torch.testing.assert_close(finetune.backbone.pos_embed,
                               model.backbone.pos_embed)


def test_runner_checkpoint_loading_is_strict(tmp_path):
    """mmengine's load_checkpoint (runner load_from, tools/test.py) loads
    non-strictly; the model's hook turns a key mismatch into an error."""
    from mmengine.runner import load_checkpoint
    model = _reid_model()
    released = _released_names(model)
    path = tmp_path / 'HOSS_TransOSS.pth'
    torch.save(released, path)  # not converted
    with pytest.raises(StateDictMismatchError,
                       match=r'missing in the weights[\s\S]*backbone\.'
                       r'cls_token[\s\S]*unexpected in the weights'
                       r'[\s\S]*base\.blocks\.0\.attn'):
        load_checkpoint(model, str(path), map_location='cpu')
    converted, _, _ = transoss_conversion(released)
    torch.save({'state_dict': converted}, path)
    load_checkpoint(model, str(path), map_location='cpu')
    torch.testing.assert_close(model.head.classifier.weight,
                               released['classifier.weight'])
