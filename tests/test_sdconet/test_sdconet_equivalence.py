"""SDCoNet released mode against the released code's fixture, and the strict
converter of released checkpoints."""
import pytest
import torch

from mmosar.models.detectors.sdconet_converter import (
    convert_sdconet_state_dict,
    load_released_sdconet,
)
from mmosar.testing.equivalence import fixture_or_skip, run_check
from mmosar.testing.equivalence.sdconet import (
    CONSTANT_BUFFERS,
    build_released_model,
)
from mmosar.utils.checkpoint import StateDictMismatchError


def test_released_mode_reproduces_fixture():
    fixture_or_skip('sdconet')
    report = run_check('sdconet')
    assert report.ok, report.format()


@pytest.fixture(scope='module')
def released_names():
    """Zero tensors under every released name of the fixture's manifest."""
    fixture = fixture_or_skip('sdconet')
    return {
        k: torch.zeros(v['shape'], dtype=getattr(torch, v['dtype']))
        for k, v in fixture.manifest['state_dict'].items()
    }


@pytest.fixture(scope='module')
def model():
    return build_released_model()


def test_converter_drops_only_unused_released_keys(released_names):
    converted, info = convert_sdconet_state_dict(released_names)
    dropped = set(info['dropped'])
    assert all(
        k.startswith(('sr_module.input_proj_sr.', 'sr_module.norm0.',
                      'sr_module.norm1.', 'sr_module.norm2.',
                      'encoder.background_embedding.')) for k in dropped)
    assert len(converted) + len(dropped) == len(released_names)
    assert info['background_embedding']


def test_converter_is_strict(model, released_names):
    extra = dict(released_names, **{'sr_module.extra.weight': torch.zeros(1)})
    with pytest.raises(StateDictMismatchError, match='sr_module.extra'):
        load_released_sdconet(
            model, extra, allowed_missing=CONSTANT_BUFFERS)
    missing = dict(released_names)
    del missing['encoder.enhance_mcsp.weight']
    with pytest.raises(StateDictMismatchError,
                       match='encoder.pre_attn_class_head.weight'):
        load_released_sdconet(
            model, missing, allowed_missing=CONSTANT_BUFFERS)


def test_converter_checks_filter_ratios(model, released_names):
    filtered = dict(
        released_names, level_filter_ratio=torch.tensor([.4, .8, 1., 1.]))
    with pytest.raises(ValueError, match='level_filter_ratio'):
        load_released_sdconet(
            model, filtered, allowed_missing=CONSTANT_BUFFERS)


def test_converter_keeps_a_fixed_alpha(repo_root):
    """A learned released alpha cannot silently replace the routing configs'
    fixed 1.0 (the toy inherits the routing config)."""
    from mmengine.config import Config

    from mmosar.registry import MODELS
    cfg = Config.fromfile(
        str(repo_root / 'configs/sdconet/sdconet_toy_dota-hbb.py'))
    toy = MODELS.build(cfg.model)
    with pytest.raises(ValueError, match='fixed alpha'):
        load_released_sdconet(toy, {'alpha': torch.tensor([.5, .5, .5])})
    # alpha 1.0 passes that check and reaches the strict key check
    with pytest.raises(StateDictMismatchError, match='missing'):
        load_released_sdconet(toy, {'alpha': torch.ones(3)})
