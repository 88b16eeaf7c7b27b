"""Strict loading of converted or pretrained weights.

Loading weights never skips a tensor silently: every key the model expects
and the state dict lacks, and every key the state dict has and the model does
not, is an error that lists them, unless the caller (usually a config) names
the keys it allows to differ with glob patterns.
"""
import fnmatch
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn


class StateDictMismatchError(KeyError):
    """Raised when a state dict and a model disagree on their keys."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ''


def _matches(key: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def _listing(title: str, keys: List[str], limit: int = 40) -> str:
    shown = '\n'.join(f'    {k}' for k in keys[:limit])
    more = (f'\n    ... and {len(keys) - limit} more'
            if len(keys) > limit else '')
    return f'  {title} ({len(keys)}):\n{shown}{more}'


def check_state_dict_keys(
    expected: Iterable[str],
    given: Iterable[str],
    source: str = 'state dict',
    allowed_missing: Sequence[str] = (),
    allowed_unexpected: Sequence[str] = (),
    shape_errors: Optional[List[str]] = None,
) -> Tuple[List[str], List[str]]:
    """Compare the keys of a model with those of a state dict.

    Args:
        expected: Keys the model has.
        given: Keys the state dict has.
        source: Where the state dict came from (file name), for the message.
        allowed_missing: Glob patterns of model keys allowed to be absent.
        allowed_unexpected: Glob patterns of state-dict keys allowed to be
            left unused.
        shape_errors: Descriptions of keys whose shapes differ.

    Returns:
        tuple: ``(missing, unexpected)`` keys that the patterns allowed.

    Raises:
        StateDictMismatchError: Listing every disallowed missing and
            unexpected key and every shape mismatch.
    """
    expected, given = set(expected), set(given)
    missing = sorted(expected - given)
    unexpected = sorted(given - expected)
    bad_missing = [k for k in missing if not _matches(k, allowed_missing)]
    bad_unexpected = [
        k for k in unexpected if not _matches(k, allowed_unexpected)
    ]
    shape_errors = shape_errors or []
    if bad_missing or bad_unexpected or shape_errors:
        parts = [f'weights from {source} do not match the model:']
        if bad_missing:
            parts.append(_listing('missing in the weights', bad_missing))
        if bad_unexpected:
            parts.append(_listing('unexpected in the weights',
                                  bad_unexpected))
        if shape_errors:
            parts.append(_listing('shape mismatch', shape_errors))
        parts.append('  (a config allows differences explicitly with '
                     'allowed_missing / allowed_unexpected glob patterns)')
        raise StateDictMismatchError('\n'.join(parts))
    return ([k for k in missing if k not in bad_missing],
            [k for k in unexpected if k not in bad_unexpected])


def load_state_dict_strict(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: str = 'state dict',
    allowed_missing: Sequence[str] = (),
    allowed_unexpected: Sequence[str] = (),
) -> Dict[str, List[str]]:
    """Load ``state_dict`` into ``module``; any disagreement is an error.

    Keys matched by ``allowed_missing`` keep the module's values; keys matched
    by ``allowed_unexpected`` are dropped. Shapes must agree for every key
    that is loaded.

    Args:
        module: The model (or submodule) to load into.
        state_dict: Tensors by name, in the module's naming.
        source: Where the weights came from, named in errors.
        allowed_missing: Glob patterns of module keys that may be absent.
        allowed_unexpected: Glob patterns of extra keys that may be dropped.

    Returns:
        dict: ``{'missing': [...], 'unexpected': [...]}``, the allowed
        differences, so callers can log them.
    """
    own = module.state_dict()
    shape_errors = [
        f'{k}: weights {tuple(v.shape)} vs model {tuple(own[k].shape)}'
        for k, v in state_dict.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    missing, unexpected = check_state_dict_keys(
        own.keys(), state_dict.keys(), source, allowed_missing,
        allowed_unexpected, shape_errors)
    to_load = {k: v for k, v in state_dict.items() if k in own}
    result = module.load_state_dict(to_load, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    return dict(missing=missing, unexpected=unexpected)
