"""Strict loading of converted or pretrained weights.

Loading weights never skips a tensor silently: every key the model expects
and the state dict lacks, and every key the state dict has and the model does
not, is an error that lists them, unless the caller (usually a config) names
the keys it allows to differ with glob patterns.
"""
import fnmatch
import importlib
import threading
from contextlib import contextmanager
from typing import (
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

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
    that is loaded; a key whose shapes differ (e.g. a classifier for another
    number of classes) is skipped only when it matches both patterns (the
    weights' tensor is dropped and the module keeps its own).

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
    mismatched = [
        k for k, v in state_dict.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    skipped = [
        k for k in mismatched
        if _matches(k, allowed_missing) and _matches(k, allowed_unexpected)
    ]
    shape_errors = [
        f'{k}: weights {tuple(state_dict[k].shape)} vs model '
        f'{tuple(own[k].shape)}' for k in mismatched if k not in skipped
    ]
    missing, unexpected = check_state_dict_keys(
        own.keys(), state_dict.keys(), source, allowed_missing,
        allowed_unexpected, shape_errors)
    to_load = {
        k: v
        for k, v in state_dict.items() if k in own and k not in skipped
    }
    with _keys_checked_here():
        result = module.load_state_dict(to_load, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    missing, unexpected = sorted(missing + skipped), \
        sorted(unexpected + skipped)
    return dict(missing=missing, unexpected=unexpected)


_LOCAL = threading.local()


@contextmanager
def _keys_checked_here():
    """Within: :func:`raise_on_incompatible_keys` stands aside, because
    :func:`load_state_dict_strict` has compared the keys (with the caller's
    allowances) already."""
    previous = getattr(_LOCAL, 'checked', False)
    _LOCAL.checked = True
    try:
        yield
    finally:
        _LOCAL.checked = previous


def raise_on_incompatible_keys(module: nn.Module, incompatible_keys) -> None:
    """``load_state_dict`` post-hook that makes every load strict.

    Register it on a model (``model.register_load_state_dict_post_hook``)
    so that loads outside :func:`load_state_dict_strict`, e.g. mmengine's
    runner with ``load_from`` / ``tools/test.py CHECKPOINT`` (``strict=False``
    there), fail listing the keys instead of logging a warning and running
    with untouched weights.

    Raises:
        StateDictMismatchError: If a key is missing or unexpected.
    """
    if getattr(_LOCAL, 'checked', False):
        return
    missing = sorted(incompatible_keys.missing_keys)
    unexpected = sorted(incompatible_keys.unexpected_keys)
    if missing or unexpected:
        parts = [f'weights loaded into {type(module).__name__} do not match '
                 'it (convert released checkpoints first, e.g. with '
                 'tools/model_converters/):']
        if missing:
            parts.append(_listing('missing in the weights', missing))
        if unexpected:
            parts.append(_listing('unexpected in the weights', unexpected))
        raise StateDictMismatchError('\n'.join(parts))


#: Converter names usable in ``load_pretrained_strict(converter=...)``:
#: name -> ``module:function`` taking a state dict and returning it in
#: mmosar's full-model names.
STATE_DICT_CONVERTERS: Dict[str, str] = {
    'transoss': 'mmosar.utils.converters.transoss:convert_transoss',
    'cmpc': 'mmosar.models.retrieval.cmpc_converter:convert_cmpc',
}


def get_state_dict_converter(name: str) -> Callable[..., dict]:
    """The converter function registered under ``name``."""
    if name not in STATE_DICT_CONVERTERS:
        raise KeyError(f'unknown state-dict converter {name!r}; known: '
                       f'{sorted(STATE_DICT_CONVERTERS)}')
    module, func = STATE_DICT_CONVERTERS[name].split(':')
    return getattr(importlib.import_module(module), func)


def unwrap_state_dict(checkpoint: Mapping, source: str) -> Dict:
    """The tensors of a loaded checkpoint file.

    Accepts a bare state dict or one wrapped as ``{'state_dict': ...}``
    (mmengine, released full models) or ``{'model': ...}`` (timm, DeiT).
    """
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'{source}: expected a dict of tensors, got '
                        f'{type(checkpoint).__name__}')
    for key in ('state_dict', 'model'):
        if isinstance(checkpoint.get(key), Mapping):
            return dict(checkpoint[key])
    return dict(checkpoint)


def load_pretrained_strict(
    module: nn.Module,
    checkpoint: str,
    prefix: Optional[str] = None,
    converter: Optional[str] = None,
    converter_cfg: Optional[dict] = None,
    allowed_missing: Sequence[str] = (),
    allowed_unexpected: Sequence[str] = (),
    map_location: str = 'cpu',
    prepare: Optional[Callable[[dict], None]] = None,
) -> Dict[str, List[str]]:
    """Load a checkpoint file into ``module`` strictly (pretrained weights).

    Steps: read the file (any mmengine backend), unwrap ``state_dict`` /
    ``model``, convert with the named converter (released names -> mmosar
    full-model names), keep the keys under ``prefix`` with the prefix
    removed, let ``prepare`` adapt it in place (e.g. resize a position
    embedding), then :func:`load_state_dict_strict`.

    Args:
        module: The model or submodule to load into.
        checkpoint: Path or URL of the checkpoint.
        prefix: Keep only keys starting with it (e.g. ``'backbone.'``) and
            strip it; an error if no key has it.
        converter: Name in :data:`STATE_DICT_CONVERTERS` (e.g.
            ``'transoss'``), applied before the prefix.
        converter_cfg: Keyword arguments of the converter.
        allowed_missing: Glob patterns of module keys that may be absent.
        allowed_unexpected: Glob patterns of extra keys that may be dropped.
        map_location: Where tensors are loaded.
        prepare: Called with the module-named state dict before the keys
            and shapes are compared.

    Returns:
        dict: The allowed ``missing`` and ``unexpected`` keys.
    """
    from mmengine.logging import print_log
    from mmengine.runner.checkpoint import _load_checkpoint
    state_dict = unwrap_state_dict(
        _load_checkpoint(checkpoint, map_location=map_location), checkpoint)
    if converter is not None:
        state_dict = get_state_dict_converter(converter)(
            state_dict, **(converter_cfg or {}))
    if prefix:
        kept = {
            k[len(prefix):]: v
            for k, v in state_dict.items() if k.startswith(prefix)
        }
        if not kept:
            raise StateDictMismatchError(
                f'{checkpoint}: no key starts with prefix {prefix!r} (first '
                f'keys: {sorted(state_dict)[:5]})')
        state_dict = kept
    if prepare is not None:
        prepare(state_dict)
    result = load_state_dict_strict(module, state_dict, checkpoint,
                                    allowed_missing, allowed_unexpected)
    print_log(
        f'loaded {checkpoint} strictly into {type(module).__name__}'
        + (f'; allowed missing: {result["missing"]}'
           if result['missing'] else '')
        + (f'; allowed unexpected: {result["unexpected"]}'
           if result['unexpected'] else ''),
        logger='current')
    return result
