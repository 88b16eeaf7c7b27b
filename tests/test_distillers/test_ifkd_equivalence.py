"""IFKD released mode against the released code's numbers (the ``ifkd``
equivalence fixture), the released-weight converter and the released-mode
configs."""
import pytest
import torch
from mmengine.config import Config

from mmosar.models.distillers import (
    IFKDDistillLoss,
    convert_ifkd_checkpoint,
    convert_ifkd_distill_weights,
)
from mmosar.testing.equivalence import fixture_or_skip, ifkd, run_check
from mmosar.utils.checkpoint import StateDictMismatchError


def test_released_mode_matches_the_fixture():
    fixture = fixture_or_skip('ifkd')
    report = run_check('ifkd')
    assert report.ok, report.format()
    # every stored array is compared
    assert {c.key for c in report.comparisons} == set(fixture.outputs.files)


def test_the_check_fails_on_a_wrong_mode(monkeypatch):
    """The paper HSM (per-location, mapped into the ball) instead of the
    released one must fail the HSM masks and the losses."""
    fixture_or_skip('ifkd')
    monkeypatch.setitem(ifkd.RELEASED_DISTILL_LOSS, 'hsm',
                        dict(impl='paper'))
    report = run_check('ifkd')
    failed = {c.key for c in report.failures()}
    assert 'A/hsm_mask_l0' in failed and 'B/hsm_mask_l2' in failed
    assert 'B/single/TapplySapply/distill_feat_loss' in failed
    # the standalone HSM pairs call the released function directly
    assert 'hsm_pairs/amp0.03/dist' not in failed


def released_names():
    g = torch.Generator().manual_seed(0)
    shapes = {
        'stu_feature_adap.conv.weight': (8, 8, 3, 3),
        'stu_feature_adap.conv.bias': (8, ),
        'generation.0.weight': (8, 8, 3, 3),
        'generation.0.bias': (8, ),
        'generation.2.weight': (8, 8, 3, 3),
        'generation.2.bias': (8, ),
        'complex_weight': (1, 8, 2),
    }
    return {k: torch.randn(v, generator=g) for k, v in shapes.items()}


def test_converter_loads_strictly_into_the_released_mode():
    released = released_names()
    converted = convert_ifkd_distill_weights(released)
    cfg = dict(ifkd.RELEASED_DISTILL_LOSS, student_channels=8,
               teacher_channels=8)
    model = IFKDDistillLoss(**cfg)
    from mmosar.utils.checkpoint import load_state_dict_strict
    load_state_dict_strict(model, converted)
    assert torch.equal(model.fdr.filter_weight, released['complex_weight'])
    assert torch.equal(model.adapters[0].bias,
                       released['stu_feature_adap.conv.bias'])
    assert torch.equal(model.ede.generator[2].weight,
                       released['generation.2.weight'])
    # the fixed filter of the default FDR has no place for complex_weight
    default = IFKDDistillLoss(student_channels=8, teacher_channels=8)
    with pytest.raises(StateDictMismatchError, match='fdr.filter_weight'):
        load_state_dict_strict(default, converted)


def test_converter_errors_list_the_keys():
    released = released_names()
    del released['generation.2.bias']
    released['generation.4.bias'] = torch.zeros(8)
    with pytest.raises(StateDictMismatchError,
                       match=r"ckpt.pth.*missing \['generation.2.bias'\]"
                       r".*unexpected \['generation.4.bias'\]"):
        convert_ifkd_distill_weights(released, 'ckpt.pth')


def test_whole_checkpoint_conversion():
    state = dict(released_names())
    state['backbone.conv1.weight'] = torch.zeros(1)
    state['bbox_head.retina_cls.bias'] = torch.zeros(1)
    state['teacher.backbone.conv1.weight'] = torch.zeros(1)
    converted, counts = convert_ifkd_checkpoint(state)
    assert counts == dict(student=2, distill=7, teacher=1)
    assert 'student.backbone.conv1.weight' in converted
    assert 'distill_loss.fdr.filter_weight' in converted
    assert not any('teacher' in k for k in converted)
    state['mobile_sam.image_encoder.x'] = torch.zeros(1)
    with pytest.raises(StateDictMismatchError,
                       match='mobile_sam.image_encoder.x'):
        convert_ifkd_checkpoint(state)


def strip(cfg: dict) -> dict:
    return {
        k: v for k, v in cfg.items()
        if k not in ('_delete_', 'type', 'student_channels',
                     'teacher_channels')
    }


def test_released_configs_are_the_checked_mode(repo_root):
    """The released-mode configs use exactly the settings the fixture check
    verifies (two-stage: EDE without the residual teacher)."""
    expected = dict(ifkd.RELEASED_DISTILL_LOSS)
    expected['ede'] = dict(expected['ede'], residual=True)
    single = Config.fromfile(
        str(repo_root / 'configs/ifkd/ifkd_retinanet_r50-mobilenetv2_fpn_'
            '100e_sar-aircraft_released.py')).model.distill_loss.to_dict()
    assert {k: tuple(v) if isinstance(v, list) else v
            for k, v in strip(single).items()} == expected
    two = Config.fromfile(
        str(repo_root / 'configs/ifkd/ifkd_faster-rcnn_r50-r18_fpn_100e_'
            'sar-aircraft_released.py')).model.distill_loss.to_dict()
    assert two['ede'] == dict(expected['ede'], residual=False)
    assert strip(two).keys() == expected.keys()
