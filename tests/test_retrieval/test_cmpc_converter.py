"""Released CMPC checkpoints: conversion of every released name, strict
loading with listed errors, allowed-key patterns."""
import json

import pytest
import torch

from mmosar.models.retrieval import (
    ATEMRefiner,
    CMPCEmbedder,
    convert_cmpc,
    load_cmpc_weights,
)
from mmosar.testing.equivalence import equivalence_root
from mmosar.utils.checkpoint import StateDictMismatchError


def _released_names():
    path = equivalence_root() / 'cmpc' / 'manifest.json'
    if not path.is_file():
        pytest.skip(f'equivalence fixture absent: {path}')
    with open(path) as f:
        return json.load(f)['state_dict']


def _tiny_embedder(**kwargs):
    return CMPCEmbedder(
        backbone=dict(type='ResNet', depth=18, base_channels=8,
                      out_indices=(3, ), strides=(1, 2, 2, 1),
                      norm_eval=False),
        head=dict(type='CrossModalEmbeddingHead', in_channels=64,
                  proj_channels=32),
        **kwargs)


def test_every_released_name_is_mapped_or_known_unused():
    names = _released_names()
    state = {k: torch.zeros(0) for k in names}
    converted = convert_cmpc(state)
    # ResNet-50 (318 entries without fc) + projector (7) + ATEM without the
    # unused conv2 / pos_emb / group_norm entries
    backbone = [k for k in converted if k.startswith('embedder.backbone.')]
    assert len(backbone) == len(
        [k for k in names if k.startswith('common_layers.')]) == 318
    assert len([k for k in converted
                if k.startswith('embedder.head.projector.')]) == 7
    refiner_shapes = {k[len('refiner.'):] for k in converted
                      if k.startswith('refiner.')}
    expected = set(ATEMRefiner(feat_channels=8, net_channels=8)
                   .state_dict())
    assert refiner_shapes == expected
    # the tied aliases model.* are dropped in favour of common_layers.*
    assert 'embedder.backbone.layer4.2.bn3.running_var' in converted
    assert not any('model.' in k for k in converted)


def test_ddp_prefix_and_unknown_keys():
    state = {'module.common_layers.0.weight': torch.zeros(1),
             'module.feature.feat_block.0.weight': torch.zeros(1)}
    assert set(convert_cmpc(state)) == {
        'embedder.backbone.conv1.weight', 'embedder.head.projector.0.weight'}
    with pytest.raises(StateDictMismatchError, match='gnn.extra.weight'):
        convert_cmpc({'common_layers.0.weight': torch.zeros(1),
                      'gnn.extra.weight': torch.zeros(1)})
    with pytest.raises(StateDictMismatchError, match='specify_num'):
        convert_cmpc({'common_layers.4.0.conv1.weight': torch.zeros(1),
                      'opt_net.specify_layers.0.weight': torch.zeros(1)})


def test_released_file_loads_strictly_and_lists_missing_keys(tmp_path):
    torch.manual_seed(0)
    source = _tiny_embedder()
    # the embedder in released names: backbone -> common_layers, the
    # projector -> feature.feat_block, plus a tied alias and an unused gnn
    stem = {'conv1': '0', 'bn1': '1', 'layer1': '4', 'layer2': '5',
            'layer3': '6', 'layer4': '7'}
    released = {}
    for key, value in source.state_dict().items():
        if key.startswith('backbone.'):
            first, rest = key[len('backbone.'):].split('.', 1)
            released[f'common_layers.{stem[first]}.{rest}'] = value
            released[f'model.{first}.{rest}'] = torch.zeros_like(value)
        else:
            released[key.replace('head.projector.',
                                 'feature.feat_block.')] = value
    released['gnn.conv2.0.weight'] = torch.zeros(1)
    path = str(tmp_path / 'released.t')
    torch.save({'model': released, 'epoch': 30}, path)

    target = _tiny_embedder()
    result = load_cmpc_weights(target, path, released_prefix='embedder.')
    assert result == dict(missing=[], unexpected=[])
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key

    # with a critic the released file lacks critic.*: an error naming them,
    # unless the caller allows them
    with_critic = _tiny_embedder(critic=dict(
        type='ModalityWassersteinCritic', in_channels=32,
        hidden_channels=16))
    with pytest.raises(StateDictMismatchError, match=r'critic\.net'):
        load_cmpc_weights(with_critic, path, released_prefix='embedder.')
    result = load_cmpc_weights(with_critic, path,
                               released_prefix='embedder.',
                               allowed_missing=['critic.*'])
    assert result['missing'] and all(
        k.startswith('critic.') for k in result['missing'])


def test_pretrained_list_is_strict(tmp_path):
    torch.manual_seed(0)
    source = _tiny_embedder()
    path = str(tmp_path / 'backbone.pth')
    weights = dict(source.backbone.state_dict())
    weights['fc.weight'] = torch.zeros(3, 3)  # like torchvision's classifier
    torch.save(weights, path)
    model = _tiny_embedder(
        pretrained=[dict(module='backbone', checkpoint=path)])
    with pytest.raises(StateDictMismatchError, match='fc.weight'):
        model.init_weights()
    model = _tiny_embedder(pretrained=[
        dict(module='backbone', checkpoint=path, allowed_unexpected=['fc.*'])
    ])
    model.init_weights()
    assert torch.equal(model.backbone.conv1.weight,
                       source.backbone.conv1.weight)


def _to_released_names(embedder, refiner):
    """Inverse of the converter's table, written out by hand."""
    stem = {'conv1': '0', 'bn1': '1', 'layer1': '4', 'layer2': '5',
            'layer3': '6', 'layer4': '7'}
    released = {}
    for key, value in embedder.state_dict().items():
        if key.startswith('backbone.'):
            first, rest = key[len('backbone.'):].split('.', 1)
            released[f'common_layers.{stem[first]}.{rest}'] = value
        else:
            released[key.replace('head.projector.',
                                 'feature.feat_block.')] = value
    for key, value in refiner.state_dict().items():
        key = (key.replace('conv_in.', 'conv1.')
               .replace('layers.', 'layer.').replace('.proj.', '.linear.')
               .replace('.shortcut.', '.right.')
               .replace('.branch.', '.left.')
               .replace('score_conv.', 'final_conv.0.'))
        released[f'gnn.{key}'] = value
    return released


def test_retriever_loads_a_released_checkpoint(tmp_path):
    from mmosar.datasets.cmpc import save_embedding_cache
    from mmosar.models.retrieval import CMPCRetriever
    torch.manual_seed(0)
    source_embedder = _tiny_embedder()
    source_refiner = ATEMRefiner(feat_channels=64, net_channels=64)
    path = str(tmp_path / '30_param.t')
    torch.save({'model': _to_released_names(source_embedder, source_refiner),
                'epoch': 30}, path)
    bank = str(tmp_path / 'bank.npz')
    save_embedding_cache(bank, ref_feats=torch.randn(12, 64).numpy())
    embedder_cfg = dict(
        type='CMPCEmbedder',
        backbone=dict(type='ResNet', depth=18, base_channels=8,
                      out_indices=(3, ), strides=(1, 2, 2, 1),
                      norm_eval=False),
        head=dict(type='CrossModalEmbeddingHead', in_channels=64,
                  proj_channels=32))
    model = CMPCRetriever(
        embedder=embedder_cfg,
        refiner=dict(type='ATEMRefiner', feat_channels=64, net_channels=64),
        reference_bank=bank, released_checkpoint=path)
    for name, source, target in (('embedder', source_embedder,
                                  model.embedder),
                                 ('refiner', source_refiner, model.refiner)):
        for key, value in source.state_dict().items():
            assert torch.equal(target.state_dict()[key], value), (name, key)
    # a refiner with fewer layers: the left-over keys are listed
    with pytest.raises(StateDictMismatchError,
                       match=r'unexpected in the weights[\s\S]*'
                       r'layers\.2\.proj\.weight'):
        CMPCRetriever(
            embedder=embedder_cfg,
            refiner=dict(type='ATEMRefiner', feat_channels=64,
                         net_channels=64, num_layers=2),
            reference_bank=bank, released_checkpoint=path)
