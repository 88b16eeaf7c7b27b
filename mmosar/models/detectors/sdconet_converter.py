"""Weights of the released SDCoNet (``qiruo-ya/SDCoNet``) in mmosar's names.

The released ``SA_DINO_SR`` / ``SA_DINO_SR_GR`` checkpoints (mmdet 3.x
overlay) map onto :class:`mmosar.models.detectors.SDCoNet` built with the
released arithmetic (``configs/_base_/models/sdconet_swin-t_released.py``).
Renamed parts (released -> mmosar):

- ``alpha`` -> ``salience_scorer.alpha``;
- ``enc_mask_predictor.layer1.{0,1}`` ->
  ``salience_scorer.predictor.input_proj.{0,1}``, ``layer2.{0,2,4}`` ->
  ``salience_scorer.predictor.score_mlp.{0,2,4}``;
- ``encoder.enhance_mcsp`` -> ``encoder.pre_attn_class_head``;
- ``encoder.layers.i.pre_attention.*`` -> ``encoder.layers.i.pre_attn.attn.*``
  and ``pre_norm`` -> ``pre_attn_norm``;
- ``neck.extra_sr.{conv,gn}`` -> ``sr_decoder.bottleneck.{conv,gn}``;
- ``sr_module.up_layer_pre`` / ``up_layer{0,1,2}`` ->
  ``sr_decoder.expands.0`` / ``expands.{1,2,3}`` (``upconv`` -> ``up``);
- ``sr_module.layers.i.blocks.j.`` -> ``sr_decoder.stages.i.blocks.j.`` with
  ``norm9`` -> ``norm1``, ``attn.*`` -> ``attn.w_msa.*``, ``mlp.fc1`` ->
  ``ffn.layers.0.0`` and ``mlp.fc2`` -> ``ffn.layers.1``;
- ``sr_module.norm`` -> ``sr_decoder.norm``, ``sr_module.patch_unembed.proj``
  -> ``sr_decoder.patch_unembed``;
- ``sr_module.sr_module.{0,1,3.0,4}`` ->
  ``sr_decoder.reconstruction.{0,1,3,5}``.

Every other key (backbone, neck convs, encoder attention / FFN / norms,
decoder, head, query embedding, memory transform, level embedding, CDN label
embedding) keeps its name. Dropped, because the released forward never uses
them: ``sr_module.input_proj_sr.*`` and ``sr_module.norm{0,1,2}.*``. Checked
and dropped: the ``level_filter_ratio`` / ``layer_filter_ratio`` buffers must
equal the model's ``level_keep_ratio`` / ``encoder.layer_keep_ratio``, and
``encoder.background_embedding.*`` (a learned row/column map added to the
tokens a layer did not select) is accepted only when every token is kept,
where it adds nothing.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Sequence, Tuple

import torch
from torch import Tensor, nn

from mmosar.utils.checkpoint import load_state_dict_strict

#: (pattern, replacement) applied in order, the first match wins.
RENAMES: Tuple[Tuple[str, str], ...] = (
    (r'^alpha$', 'salience_scorer.alpha'),
    (r'^enc_mask_predictor\.layer1\.',
     'salience_scorer.predictor.input_proj.'),
    (r'^enc_mask_predictor\.layer2\.', 'salience_scorer.predictor.score_mlp.'),
    (r'^encoder\.enhance_mcsp\.', 'encoder.pre_attn_class_head.'),
    (r'^(encoder\.layers\.\d+)\.pre_attention\.', r'\1.pre_attn.attn.'),
    (r'^(encoder\.layers\.\d+)\.pre_norm\.', r'\1.pre_attn_norm.'),
    (r'^neck\.extra_sr\.', 'sr_decoder.bottleneck.'),
    (r'^sr_module\.up_layer_pre\.upconv\.', 'sr_decoder.expands.0.up.'),
    (r'^sr_module\.up_layer_pre\.norm\.', 'sr_decoder.expands.0.norm.'),
    (r'^sr_module\.layers\.(\d+)\.blocks\.(\d+)\.norm9\.',
     r'sr_decoder.stages.\1.blocks.\2.norm1.'),
    (r'^sr_module\.layers\.(\d+)\.blocks\.(\d+)\.attn\.',
     r'sr_decoder.stages.\1.blocks.\2.attn.w_msa.'),
    (r'^sr_module\.layers\.(\d+)\.blocks\.(\d+)\.mlp\.fc1\.',
     r'sr_decoder.stages.\1.blocks.\2.ffn.layers.0.0.'),
    (r'^sr_module\.layers\.(\d+)\.blocks\.(\d+)\.mlp\.fc2\.',
     r'sr_decoder.stages.\1.blocks.\2.ffn.layers.1.'),
    (r'^sr_module\.layers\.(\d+)\.blocks\.(\d+)\.norm2\.',
     r'sr_decoder.stages.\1.blocks.\2.norm2.'),
    (r'^sr_module\.norm\.', 'sr_decoder.norm.'),
    (r'^sr_module\.patch_unembed\.proj\.', 'sr_decoder.patch_unembed.'),
    (r'^sr_module\.sr_module\.3\.0\.', 'sr_decoder.reconstruction.3.'),
    (r'^sr_module\.sr_module\.4\.', 'sr_decoder.reconstruction.5.'),
    (r'^sr_module\.sr_module\.([01])\.', r'sr_decoder.reconstruction.\1.'),
)

#: Released parameters its forward never reads.
UNUSED_RELEASED = ('sr_module.input_proj_sr.', 'sr_module.norm0.',
                   'sr_module.norm1.', 'sr_module.norm2.')
BACKGROUND_PREFIX = 'encoder.background_embedding.'
FILTER_BUFFERS = ('level_filter_ratio', 'layer_filter_ratio')


def _rename_up_layer(key: str) -> str:
    match = re.match(r'^sr_module\.up_layer(\d)\.(norm|upconv)\.(.*)$', key)
    if match is None:
        return key
    part = 'up' if match.group(2) == 'upconv' else 'norm'
    return (f'sr_decoder.expands.{int(match.group(1)) + 1}.{part}.'
            f'{match.group(3)}')


def convert_sdconet_state_dict(
    state_dict: Mapping[str, Tensor]
) -> Tuple['OrderedDict[str, Tensor]', Dict[str, object]]:
    """Released SDCoNet weights in mmosar's names.

    Args:
        state_dict: The released ``SA_DINO_SR`` / ``SA_DINO_SR_GR`` state
            dict (``checkpoint['state_dict']``).

    Returns:
        tuple: The converted state dict, and ``info`` with ``dropped`` (the
        released keys left out), ``background_embedding`` (whether the
        released learned background map was present) and the released
        ``level_filter_ratio`` / ``layer_filter_ratio`` (lists, or None when
        absent).
    """
    converted = OrderedDict()
    info: Dict[str, object] = dict(
        dropped=[], background_embedding=False, level_filter_ratio=None,
        layer_filter_ratio=None)
    for key, value in state_dict.items():
        if key.startswith(UNUSED_RELEASED):
            info['dropped'].append(key)
            continue
        if key.startswith(BACKGROUND_PREFIX):
            info['background_embedding'] = True
            info['dropped'].append(key)
            continue
        if key in FILTER_BUFFERS:
            info[key] = [float(v) for v in value.flatten().tolist()]
            info['dropped'].append(key)
            continue
        new_key = _rename_up_layer(key)
        if new_key == key:
            for pattern, replacement in RENAMES:
                new_key, count = re.subn(pattern, replacement, key)
                if count:
                    break
        if new_key in converted:
            raise KeyError(f'released keys map twice onto {new_key!r}')
        converted[new_key] = value
    return converted, info


def _keep_ratios(model: nn.Module) -> Tuple[List[float], List[float]]:
    level = [float(r) for r in getattr(model, 'level_keep_ratio', ())]
    layer = [
        float(r) for r in getattr(model.encoder, 'layer_keep_ratio', ())
    ]
    return level, layer


def load_released_sdconet(model: nn.Module,
                          state_dict: Mapping[str, Tensor],
                          source: str = 'released SDCoNet weights',
                          allowed_missing: Sequence[str] = ()
                          ) -> Dict[str, object]:
    """Convert released weights and load them strictly into ``model``.

    Args:
        model: An mmosar ``SDCoNet`` (built with the released config).
        state_dict: Released-name weights.
        source: Named in errors (the checkpoint file).
        allowed_missing: Glob patterns of model keys that may be absent
            (e.g. the relative-position-index buffers a synthetic state dict
            leaves out).

    Returns:
        dict: The conversion ``info`` plus the allowed ``missing`` keys.

    Raises:
        ValueError: The released filter ratios differ from the model's keep
            ratios, the model fixes alpha (routing configs) and the released
            one differs, or the released background map is present while the
            model drops tokens (mmosar's background embedding differs).
        StateDictMismatchError: Any other key mismatch (listed).
    """
    converted, info = convert_sdconet_state_dict(state_dict)
    level, layer = _keep_ratios(model)
    for name, mine in (('level_filter_ratio', level), ('layer_filter_ratio',
                                                       layer)):
        released = info[name]
        if released is not None and released != mine:
            raise ValueError(
                f'{source}: released {name} {released} differs from the '
                f'model\'s keep ratios {mine}; set level_keep_ratio / '
                'encoder.layer_keep_ratio in the config to the released '
                'values')
    scorer = getattr(model, 'salience_scorer', None)
    fixed_alpha = scorer is not None and 'alpha' not in dict(
        scorer.named_parameters())
    released_alpha = converted.get('salience_scorer.alpha')
    if fixed_alpha and released_alpha is not None and not torch.equal(
            released_alpha.to(scorer.alpha), scorer.alpha):
        raise ValueError(
            f'{source}: the released alpha {released_alpha.tolist()} differs '
            f'from the model\'s fixed alpha {scorer.alpha.tolist()} (a '
            'SA_DINO_SR checkpoint with a learned alpha): use a config with '
            'salience_scorer.fixed_alpha=None, e.g. '
            'configs/sdconet/sdconet_swin-t_36e_no-routing_dota15-hbb.py')
    if info['background_embedding'] and any(r < 1 for r in level + layer):
        raise ValueError(
            f'{source}: the released learned background map '
            '(encoder.background_embedding) cannot be converted for a model '
            'that drops tokens (mmosar learns one vector per level instead)')
    result = load_state_dict_strict(
        model, converted, source=source, allowed_missing=allowed_missing)
    info.update(result)
    return info


__all__ = [
    'RENAMES', 'convert_sdconet_state_dict', 'load_released_sdconet',
    'UNUSED_RELEASED'
]
