"""Strict weight loading: every disagreement is an error listing the keys."""
import pytest
import torch
from torch import nn

from mmosar.utils.checkpoint import (
    StateDictMismatchError,
    load_state_dict_strict,
)


def _model():
    return nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Linear(3, 4))


def test_matching_weights_load_exactly():
    source, target = _model(), _model()
    load_state_dict_strict(target, source.state_dict())
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value)


def test_missing_and_unexpected_keys_are_listed():
    state = _model().state_dict()
    del state['2.weight']
    state['head.fc.weight'] = torch.zeros(1)
    with pytest.raises(StateDictMismatchError) as info:
        load_state_dict_strict(_model(), state, source='released.pth')
    message = str(info.value)
    assert 'released.pth' in message
    assert 'missing in the weights (1):\n    2.weight' in message
    assert 'unexpected in the weights (1):\n    head.fc.weight' in message


def test_shape_mismatch_is_an_error():
    state = _model().state_dict()
    state['2.weight'] = torch.zeros(5, 3)
    with pytest.raises(StateDictMismatchError, match=r'2.weight: weights '
                       r'\(5, 3\) vs model \(4, 3\)'):
        load_state_dict_strict(_model(), state)


def test_allowed_patterns_keep_or_drop_exactly_those_keys():
    source, target = _model(), _model()
    before = target.state_dict()['2.weight'].clone()
    state = source.state_dict()
    del state['2.weight'], state['2.bias']
    state['classifier.weight'] = torch.zeros(7, 3)
    allowed = load_state_dict_strict(
        target, state, allowed_missing=['2.*'],
        allowed_unexpected=['classifier.*'])
    assert allowed == dict(missing=['2.bias', '2.weight'],
                           unexpected=['classifier.weight'])
    assert torch.equal(target.state_dict()['2.weight'], before)  # kept
    assert torch.equal(target.state_dict()['0.weight'],
                       source.state_dict()['0.weight'])
    # a pattern allows only what it matches
    del state['0.bias']
    with pytest.raises(StateDictMismatchError, match='0.bias'):
        load_state_dict_strict(target, state, allowed_missing=['2.*'],
                               allowed_unexpected=['classifier.*'])
