"""mmosar registries: children of mmdet's, lazy locations, scope, hints."""
import pytest
from mmengine.registry import DefaultScope

from mmosar import registry as mmosar_registry
from mmosar.utils.registry_hints import unknown_type_hints


def test_every_node_is_a_child_of_mmdet():
    import mmdet.registry as mmdet_registry
    for name in ('MODELS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'TASK_UTILS',
                 'VISUALIZERS', 'HOOKS', 'LOOPS', 'OPTIM_WRAPPERS',
                 'DATA_SAMPLERS', 'PARAM_SCHEDULERS', 'RUNNERS'):
        child = getattr(mmosar_registry, name)
        assert child.scope == 'mmosar'
        assert child.parent is getattr(mmdet_registry, name)


def test_unprefixed_mmdet_names_resolve_in_mmosar_scope():
    assert DefaultScope.get_current_instance().scope_name == 'mmosar'
    assert mmosar_registry.MODELS.get('RetinaNet').__module__.startswith(
        'mmdet.')
    assert mmosar_registry.TRANSFORMS.get('PackDetInputs') is not None
    assert mmosar_registry.METRICS.get('CocoMetric') is not None


def test_mmpretrain_names_resolve_with_prefix():
    backbone = mmosar_registry.MODELS.build(
        dict(type='mmpretrain.ResNet', depth=18))
    assert type(backbone).__module__.startswith('mmpretrain.')


def test_mmpretrain_vit_builds_and_runs_through_mmosar_models():
    import torch
    vit = mmosar_registry.MODELS.build(
        dict(type='mmpretrain.VisionTransformer', arch='b',
             img_size=(256, 128), patch_size=16, out_type='cls_token'))
    assert type(vit).__module__.startswith('mmpretrain.')
    # ViT-B: 12 layers, 768 channels; (256 / 16) x (128 / 16) patch tokens
    # plus the class token.
    assert len(vit.layers) == 12 and vit.embed_dims == 768
    assert tuple(vit.pos_embed.shape) == (1, 16 * 8 + 1, 768)
    with torch.no_grad():
        out = vit(torch.zeros(1, 3, 256, 128))
    assert tuple(out[-1].shape) == (1, 768)


def test_mmpretrain_metric_through_mmosar_metrics():
    import torch
    metric = mmosar_registry.METRICS.build(
        dict(type='mmpretrain.Accuracy', topk=(1, 2)))
    assert type(metric).__module__.startswith('mmpretrain.')
    # Hand-worked: sample 0's label (1) scores highest, sample 1's label (0)
    # is second: top-1 50 %, top-2 100 %.
    metric.process(None, [
        dict(pred_score=torch.tensor([0.1, 0.7, 0.2]),
             gt_label=torch.tensor([1])),
        dict(pred_score=torch.tensor([0.3, 0.6, 0.1]),
             gt_label=torch.tensor([0])),
    ])
    result = metric.evaluate(size=2)
    assert result['accuracy/top1'] == 50.0
    assert result['accuracy/top2'] == 100.0


def test_mmpretrain_transform_through_mmosar_transforms():
    import numpy as np
    pack = mmosar_registry.TRANSFORMS.build(dict(type='mmpretrain.PackInputs'))
    assert type(pack).__module__.startswith('mmpretrain.')
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    packed = pack(dict(img=img, gt_label=4))
    # HWC -> CHW, values untouched
    assert packed['inputs'].tolist() == img.transpose(2, 0, 1).tolist()
    assert packed['data_samples'].gt_label.tolist() == [4]


def test_unknown_type_names_registry_and_close_names():
    with pytest.raises(KeyError) as info:
        with unknown_type_hints():
            mmosar_registry.MODELS.build(dict(type='RetinaNett'))
    message = str(info.value)
    assert 'RetinaNett' in message
    assert 'mmosar::model' in message
    assert 'RetinaNet' in message.split('Did you mean:')[1]


def test_other_key_errors_pass_through():
    with pytest.raises(KeyError, match='^.missing.$'):
        with unknown_type_hints():
            raise KeyError('missing')
