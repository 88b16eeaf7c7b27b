"""The equivalence-check core: deviation measure, verdicts, fixture access."""
import json

import numpy as np
import pytest
import torch

from mmosar.testing.equivalence import EquivalenceReport, Fixture, check_module


def test_relative_deviation_is_worst_error_over_scale():
    report = EquivalenceReport('hand')
    # worst |a - e| = 0.004 at the second element, scale max|e| = 4
    actual = torch.tensor([1.0, 2.004, -4.0], dtype=torch.float64)
    comp = report.compare('x', actual, np.array([1.0, 2.0, -4.0]),
                          rtol=2e-3)
    assert comp.rel == pytest.approx(0.001)
    assert comp.abs == pytest.approx(0.004)
    assert comp.ok and report.ok
    report.compare('y', np.array([1.0, 2.0]), np.array([1.0, 2.1]),
                   rtol=1e-6)
    assert not report.ok
    assert [c.key for c in report.failures()] == ['y']
    assert report.summary().startswith('FAIL hand: 1/2 keys')


def test_shape_nan_and_integer_mismatches_fail():
    report = EquivalenceReport('hand')
    assert not report.compare('shape', np.zeros(3), np.zeros(4)).ok
    assert not report.compare('nan', np.array([np.nan, 1.0]),
                              np.array([0.0, 1.0])).ok
    assert report.compare('nan-both', np.array([np.nan, 1.0]),
                          np.array([np.nan, 1.0])).ok
    ints = report.compare('uint8', np.array([1, 2, 3], np.uint8),
                          np.array([1, 2, 4], np.uint8))
    assert not ints.ok and ints.abs == 1
    assert report.compare('bool', np.array([True, False]),
                          np.array([True, False])).ok


def test_empty_report_is_not_a_pass():
    assert not EquivalenceReport('nothing').ok


def test_fixture_reads_manifest_outputs_and_recipe(tmp_path):
    (tmp_path / 'recipe.py').write_text(
        'import torch\n'
        'def make_state_dict(manifest):\n'
        '    return {k: torch.full(v["shape"], 2.0)\n'
        '            for k, v in manifest["state_dict"].items()}\n')
    folder = tmp_path / 'method' / 'variant'
    folder.mkdir(parents=True)
    (folder / 'manifest.json').write_text(json.dumps(
        {'state_dict': {'w': {'shape': [2], 'dtype': 'float32'}}}))
    np.savez(folder / 'outputs.npz', y=np.arange(3.0))
    fixture = Fixture.load('method/variant', tmp_path)
    assert fixture['y'].tolist() == [0.0, 1.0, 2.0]
    assert 'y' in fixture and 'z' not in fixture
    assert fixture.released_state_dict()['w'].tolist() == [2.0, 2.0]
    with pytest.raises(KeyError, match='no array'):
        fixture['z']
    with pytest.raises(FileNotFoundError, match='no equivalence fixture'):
        Fixture.load('absent', tmp_path)


def test_unknown_fixture_name_is_refused():
    with pytest.raises(KeyError, match='no equivalence check'):
        check_module('nonsense')
