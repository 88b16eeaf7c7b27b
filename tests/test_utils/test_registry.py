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
    # mmpretrain.models imports torchvision, whose PyPI wheels need a CUDA
    # torch: on a CPU-only torch 2.13 there is no torchvision to install.
    pytest.importorskip('torchvision', reason='mmpretrain.models needs it')
    backbone = mmosar_registry.MODELS.build(
        dict(type='mmpretrain.ResNet', depth=18))
    assert type(backbone).__module__.startswith('mmpretrain.')


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
