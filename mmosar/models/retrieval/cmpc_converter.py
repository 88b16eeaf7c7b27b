"""Released CMPC checkpoints (``Collebt/CMPC``) to mmosar names.

The released ``train.py`` saves ``{'model': embed_GNN.state_dict(), 'epoch':
N}``: one module holding the embedding network and the refinement network
(``gnn.*``). With ``specify_num = 0`` (every released config) the shared
ResNet-50 is ``common_layers`` (a ``Sequential`` of conv1, bn1, relu,
maxpool, layer1-4); ``model.*`` names the same modules again (a tied alias),
and ``opt_net.model.*`` is a whole ResNet-50 that no forward uses.

mmosar names (a :class:`CMPCRetriever`):

========================================  ===================================
released                                  mmosar
========================================  ===================================
``common_layers.{0,1}.*``                 ``embedder.backbone.{conv1,bn1}.*``
``common_layers.{4,5,6,7}.*``             ``embedder.backbone.layer{1-4}.*``
``feature.feat_block.{0,1}.*``            ``embedder.head.projector.{0,1}.*``
``gnn.conv1.*``                           ``refiner.conv_in.*``
``gnn.layer.N.linear.*``                  ``refiner.layers.N.proj.*``
``gnn.layer.N.ffn.right.*`` / ``left.*``  ``refiner.layers.N.ffn.shortcut.*``
                                          / ``.branch.*``
``gnn.final_conv.0.*``                    ``refiner.score_conv.*``
========================================  ===================================

Dropped, because no forward of a released config reads them: ``model.*``
(aliases of ``common_layers.*``, whose values are the ones in effect after
``load_state_dict``, plus the unused ``model.fc``), ``opt_net.model.*``,
``gnn.conv2.*``, ``gnn.pos_emb.*`` (only read with ``encode_pos``, whose
released forward feeds (B, 2, N) to a Linear over the last axis and cannot
run for N != 2) and ``gnn.layer.N.group_norm.*``. Any other key is an error.
"""
import re
from typing import Dict, List, Mapping, Optional, Sequence

import torch
from torch import nn

from mmosar.utils.checkpoint import (
    StateDictMismatchError,
    load_state_dict_strict,
)

#: Released keys that no forward of a released config uses.
UNUSED_PATTERNS = (
    r'model\..*',
    r'opt_net\.model\..*',
    r'gnn\.conv2\..*',
    r'gnn\.pos_emb\..*',
    r'gnn\.layer\.\d+\.group_norm\..*',
)

_STEM = {'0': 'conv1', '1': 'bn1', '4': 'layer1', '5': 'layer2',
         '6': 'layer3', '7': 'layer4'}

_RULES = (
    (r'feature\.feat_block\.([01])\.(.*)', r'embedder.head.projector.\1.\2'),
    (r'gnn\.conv1\.([01])\.(.*)', r'refiner.conv_in.\1.\2'),
    (r'gnn\.layer\.(\d+)\.linear\.(.*)', r'refiner.layers.\1.proj.\2'),
    (r'gnn\.layer\.(\d+)\.ffn\.right\.(.*)',
     r'refiner.layers.\1.ffn.shortcut.\2'),
    (r'gnn\.layer\.(\d+)\.ffn\.left\.(.*)',
     r'refiner.layers.\1.ffn.branch.\2'),
    (r'gnn\.final_conv\.0\.(.*)', r'refiner.score_conv.\1'),
)


def is_released_cmpc(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether a state dict uses the released CMPC names."""
    return any(
        k.startswith(('common_layers.', 'gnn.', 'feature.feat_block.'))
        for k in _strip_ddp(state_dict))


def _strip_ddp(state_dict: Mapping[str, torch.Tensor]) -> Dict:
    if state_dict and all(k.startswith('module.') for k in state_dict):
        return {k[len('module.'):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def convert_cmpc(state_dict: Mapping[str, torch.Tensor],
                 source: str = 'released CMPC state dict'
                 ) -> Dict[str, torch.Tensor]:
    """Rename a released CMPC state dict to :class:`CMPCRetriever` names.

    Args:
        state_dict: The released ``checkpoint['model']`` (a DDP ``module.``
            prefix is removed).
        source: Where it came from, named in errors.

    Returns:
        dict: ``embedder.*`` and ``refiner.*`` tensors (the refiner part only
        when the checkpoint has ``gnn.*``).

    Raises:
        StateDictMismatchError: For keys of modality-specific layers
            (``specify_num > 0``), unknown keys, or no embedding weights.
    """
    state_dict = _strip_ddp(state_dict)
    converted: Dict[str, torch.Tensor] = {}
    unknown: List[str] = []
    specific = [k for k in state_dict
                if k.startswith(('opt_net.specify_layers.',
                                 'sar_net.specify_layers.'))]
    if specific:
        raise StateDictMismatchError(
            f'{source}: modality-specific layers (released specify_num > 0) '
            f'are not supported by CMPCEmbedder, which shares one backbone; '
            f'keys: {specific[:8]}{" ..." if len(specific) > 8 else ""}')
    for key, value in state_dict.items():
        match = re.fullmatch(r'common_layers\.(\d)\.(.*)', key)
        if match and match.group(1) in _STEM:
            converted[f'embedder.backbone.{_STEM[match.group(1)]}.'
                      f'{match.group(2)}'] = value
            continue
        for pattern, target in _RULES:
            if re.fullmatch(pattern, key):
                converted[re.sub(pattern, target, key)] = value
                break
        else:
            if not any(re.fullmatch(p, key) for p in UNUSED_PATTERNS):
                unknown.append(key)
    if unknown:
        raise StateDictMismatchError(
            f'{source}: keys that are not part of a released CMPC model '
            f'(embed_GNN with specify_num 0): {sorted(unknown)}')
    if not any(k.startswith('embedder.backbone.') for k in converted):
        raise StateDictMismatchError(
            f'{source}: no common_layers.* (shared ResNet) weights found')
    return converted


def select_prefix(state_dict: Mapping[str, torch.Tensor], prefix: str,
                  source: str) -> Dict[str, torch.Tensor]:
    """Keys under ``prefix`` with the prefix removed (error if none)."""
    kept = {k[len(prefix):]: v for k, v in state_dict.items()
            if k.startswith(prefix)}
    if not kept:
        raise StateDictMismatchError(
            f'{source}: no key starts with {prefix!r} (first keys: '
            f'{sorted(state_dict)[:5]})')
    return kept


def load_cmpc_weights(module: nn.Module,
                      checkpoint: str,
                      prefix: str = '',
                      released_prefix: Optional[str] = None,
                      allowed_missing: Sequence[str] = (),
                      allowed_unexpected: Sequence[str] = (),
                      map_location: str = 'cpu') -> Dict[str, List[str]]:
    """Load a checkpoint into a CMPC module strictly.

    The file may be a released CMPC checkpoint (``{'model': ...}``, converted
    with :func:`convert_cmpc` to :class:`CMPCRetriever` names), an mmengine
    checkpoint (``{'state_dict': ...}``) or a bare state dict (e.g.
    ``torchvision://resnet50``). Keys under the prefix are loaded, with the
    prefix removed; any other missing or unexpected key is an error listing
    them, unless matched by the allowed glob patterns.

    Args:
        module: Where to load.
        checkpoint: Path or URL (any mmengine backend).
        prefix: Key prefix selecting the part for ``module`` in an mmosar
            checkpoint (e.g. ``'refiner.'``).
        released_prefix: The prefix used instead when the file is a
            released CMPC checkpoint (``'embedder.'`` or ``'refiner.'``);
            defaults to ``prefix``.
        allowed_missing: Glob patterns of module keys allowed to be absent.
        allowed_unexpected: Glob patterns of extra keys allowed (dropped).
        map_location: Defaults to ``'cpu'``.

    Returns:
        dict: The allowed ``missing`` / ``unexpected`` keys.
    """
    from mmengine.runner.checkpoint import _load_checkpoint
    loaded = _load_checkpoint(checkpoint, map_location=map_location)
    if not isinstance(loaded, Mapping):
        raise TypeError(f'{checkpoint}: expected a dict of tensors, got '
                        f'{type(loaded).__name__}')
    state_dict: Optional[Mapping] = None
    for key in ('state_dict', 'model'):
        if isinstance(loaded.get(key), Mapping):
            state_dict = loaded[key]
            break
    state_dict = _strip_ddp(loaded if state_dict is None else state_dict)
    if is_released_cmpc(state_dict):
        state_dict = convert_cmpc(state_dict, checkpoint)
        if released_prefix is not None:
            prefix = released_prefix
    if prefix:
        state_dict = select_prefix(state_dict, prefix, checkpoint)
    return load_state_dict_strict(module, state_dict, checkpoint,
                                  allowed_missing, allowed_unexpected)
