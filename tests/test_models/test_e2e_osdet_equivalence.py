"""E2E-OSDet against the released M4-SAR fork: converter, safe checkpoint
reading and the numeric fixture ``../shared/equivalence/m4sar``."""
import os
import subprocess
import sys
import types
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from mmosar.testing.equivalence import (
    EquivalenceReport,
    fixture_or_skip,
    run_check,
)
from mmosar.utils.converters import (
    ConversionError,
    UnsafeCheckpointError,
    convert_e2e_osdet,
    load_ultralytics_state_dict,
)
from mmosar.utils.converters.m4sar import E2E_OSDET_TABLE, mmosar_name

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------- safe checkpoint reading
def fake_ultralytics_modules():
    """Stand-ins for the fork's classes under their released module names."""
    root = types.ModuleType('ultralytics')
    nn_pkg = types.ModuleType('ultralytics.nn')
    tasks = types.ModuleType('ultralytics.nn.tasks')
    conv_mod = types.ModuleType('ultralytics.nn.modules.conv')

    class Conv(nn.Module):

        def __init__(self, c1, c2):
            super().__init__()
            self.conv = nn.Conv2d(c1, c2, 3, bias=False)
            self.bn = nn.BatchNorm2d(c2)
            self.act = nn.SiLU()

    class OBBModel(nn.Module):

        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(Conv(6, 4), Conv(4, 8))
            self.register_buffer('scratch', torch.ones(1), persistent=False)
            self.yaml = {'nc': 6}

    Conv.__module__ = conv_mod.__name__
    OBBModel.__module__ = tasks.__name__
    Conv.__qualname__, OBBModel.__qualname__ = 'Conv', 'OBBModel'
    conv_mod.Conv, tasks.OBBModel = Conv, OBBModel
    return {
        m.__name__: m
        for m in (root, nn_pkg, tasks, conv_mod,
                  types.ModuleType('ultralytics.nn.modules'))
    }, OBBModel


@pytest.fixture
def fake_checkpoint(tmp_path, monkeypatch):
    modules, model_cls = fake_ultralytics_modules()
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    torch.manual_seed(0)
    model, ema = model_cls(), model_cls()
    ema.model[0].bn.running_mean.fill_(0.5)
    expected = {k: v.clone() for k, v in ema.state_dict().items()}
    path = tmp_path / 'best.pt'
    torch.save(
        dict(
            epoch=3,
            model=model.half(),
            ema=ema.half(),
            updates=7,
            train_args=dict(batch=64, imgsz=512),
            date='2025-01-01T00:00:00'), path)
    for name in modules:  # the released code is gone when reading
        monkeypatch.delitem(sys.modules, name)
    return path, expected


def test_ultralytics_checkpoint_read_without_released_code(fake_checkpoint):
    path, expected = fake_checkpoint
    assert 'ultralytics' not in sys.modules
    state, entry = load_ultralytics_state_dict(path)
    assert entry == 'ema'
    assert list(state) == list(expected)  # order and names of state_dict()
    for key, value in expected.items():
        if value.is_floating_point():  # saved in half precision
            assert state[key].dtype == torch.float32
            torch.testing.assert_close(
                state[key], value.half().float(), rtol=0, atol=0)
        else:
            assert torch.equal(state[key], value)
    assert 'ultralytics' not in sys.modules  # nothing was imported


class _Evil:

    def __reduce__(self):
        return (os.system, ('touch PWNED_BY_CHECKPOINT', ))


@pytest.mark.parametrize('payload', ['os.system', 'builtins.eval'])
def test_malicious_checkpoint_refused(tmp_path, payload, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / 'evil.pt'
    if payload == 'os.system':
        torch.save(dict(model=_Evil(), weight=torch.ones(2)), path)
    else:  # a plain pickle calling eval
        with open(path, 'wb') as f:
            f.write(b'cbuiltins\neval\n(Vopen("PWNED_BY_CHECKPOINT","w")\n'
                    b'tR.')
    with pytest.raises(UnsafeCheckpointError,
                       match='evil.pt.*(system|eval).*refused'):
        load_ultralytics_state_dict(path)
    assert not (tmp_path / 'PWNED_BY_CHECKPOINT').exists()


def test_plain_state_dict_is_read(tmp_path):
    path = tmp_path / 'released.pth'
    torch.save(OrderedDict(a=torch.ones(2, dtype=torch.float16)), path)
    state, entry = load_ultralytics_state_dict(path)
    assert entry == 'state_dict' and state['a'].dtype == torch.float32


# --------------------------------------------------------------- converter
_WEIGHTS = {}


def recipe_weights(fixture):
    """The fixture's released-name weights (built once, copied per use)."""
    if 'weights' not in _WEIGHTS:
        _WEIGHTS['weights'] = fixture.released_state_dict()
    return dict(_WEIGHTS['weights'])


def released_weights(fixture):
    """Recipe weights with the released constants (a real checkpoint)."""
    from mmosar.testing.equivalence.m4sar import released_constant_values
    weights = recipe_weights(fixture)
    weights.update(released_constant_values())
    return weights


def test_converter_rules_and_errors():
    fixture = fixture_or_skip('m4sar')
    weights = recipe_weights(fixture)
    # the recipe gives the 9 constant entries random values: refused
    with pytest.raises(ConversionError, match='model.48.dfl.conv.weight'):
        convert_e2e_osdet(weights)
    conversion = convert_e2e_osdet(released_weights(fixture))
    assert sorted(conversion.dropped) == sorted(
        fixture.manifest['unused_in_forward'])
    # 978 entries - 36 dead - 9 constants, the 6 CMIM value/gate pairs
    # concatenated into one projection each
    assert len(conversion.state_dict) == 978 - 36 - 9 - 6
    # the concatenation: values first, then the gate
    opt = conversion.state_dict['backbone.cmims.1.in_proj.optical.weight']
    assert torch.equal(opt[:512], weights['model.20.op.in_proj.weight'])
    assert torch.equal(opt[512:], weights['model.20.op.in_proj_act.weight'])
    assert mmosar_name('model.48.cv3.2.1.1.bn.weight', E2E_OSDET_TABLE) \
        == 'bbox_head.cls_branches.2.3.bn.weight'
    assert mmosar_name('model.27.m.1.m.0.cv2.conv.weight', E2E_OSDET_TABLE) \
        == 'backbone.streams.sar.2.1.blocks.1.blocks.0.conv2.conv.weight'

    bad = released_weights(fixture)
    bad['model.46.foo'] = torch.ones(1)  # a layer without weights (Concat)
    bad['model.33.mlla.extra.weight'] = torch.ones(1)
    with pytest.raises(ConversionError,
                       match='model.33.mlla.extra.weight.*model.46.foo'):
        convert_e2e_osdet(bad)
    del bad['model.46.foo'], bad['model.33.mlla.extra.weight']
    del bad['model.13.op.in_proj_act.weight']
    with pytest.raises(ConversionError, match='in_proj_act'):
        convert_e2e_osdet(bad)


def test_converter_checkpoint_strict(tmp_path):
    fixture = fixture_or_skip('m4sar')
    from mmosar.testing.equivalence.m4sar import (
        RECIPE_CONFIG,
        build_recipe_model,
    )
    from mmosar.utils.checkpoint import (
        StateDictMismatchError,
        load_state_dict_strict,
    )
    from mmosar.utils.converters.m4sar import convert_e2e_osdet_checkpoint
    src, dst = tmp_path / 'released.pth', tmp_path / 'mmosar.pth'
    weights = released_weights(fixture)
    torch.save(weights, src)
    config = str(REPO / RECIPE_CONFIG)
    conversion, entry = convert_e2e_osdet_checkpoint(src, dst, config)
    assert entry == 'state_dict' and len(conversion.dropped) == 36
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['dropped_dead_entries'] == conversion.dropped
    model, _ = build_recipe_model()
    load_state_dict_strict(model, ckpt['state_dict'])
    assert torch.equal(
        model.state_dict()['backbone.streams.optical.0.0.conv.weight'],
        weights['model.3.conv.weight'])
    # a missing released entry: the strict check lists the model key
    del weights['model.47.cv2.bn.running_var']
    torch.save(weights, src)
    with pytest.raises(StateDictMismatchError,
                       match='neck.bottom_up_p5.conv2.bn.running_var'):
        convert_e2e_osdet_checkpoint(src, dst, config)


@pytest.mark.slow
def test_converter_cli(tmp_path):
    fixture = fixture_or_skip('m4sar')
    src, dst = tmp_path / 'released.pth', tmp_path / 'mmosar.pth'
    torch.save(released_weights(fixture), src)
    script = REPO / 'tools/model_converters/m4sar_to_mmosar.py'
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(script), str(src), str(dst)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert 'dropped 36 entries' in done.stdout and dst.is_file()


# ----------------------------------------------------------------- fixture
def test_e2e_osdet_fast_equivalence():
    """Converter, optimizer groups, FAM and loss against the fixture."""
    fixture = fixture_or_skip('m4sar')
    from mmosar.testing.equivalence.m4sar import check_fast
    report = EquivalenceReport('m4sar (fast)')
    check_fast(fixture, report)
    assert report.ok, report.format()
    keys = {c.key for c in report.comparisons}
    assert {'loss_only/loss_items', 'loss_only/loss_backward',
            'fam_test/fam_sar_edge', 'convert/weight_decay_groups'} <= keys


@pytest.mark.slow
def test_e2e_osdet_full_equivalence():
    """Every array of the fixture (about 2-4 min on a 2-core CPU)."""
    fixture_or_skip('m4sar')
    report = run_check('m4sar')
    assert report.ok, report.format()
