"""Released TransOSS (Hoss-ReID) checkpoints -> mmosar names.

Layouts of the release (Alioth2000/Hoss-ReID at bd9b902):

* full model (``HOSS_TransOSS.pth``, ``transformer_60.pth``):
  ``model.state_dict()`` of ``build_transformer``: ``base.*`` (the ViT),
  ``bottleneck.*`` (BNNeck), ``classifier.weight``, ``logit_scale``;
* DDP: the same with a leading ``module.``;
* backbone-only (``vit_b512_pre.pth``, timm ``vit_base_p16_224``): the ViT's
  names without ``base.``; a timm ImageNet ViT has no SAR patch embedding,
  no ``mie_embed`` and a ``head.*`` instead of ``fc.*``.

mmosar names: ``backbone.*`` (:class:`TransOSSViT`, mmpretrain's ViT names
plus ``patch_embed_sar``, ``modality_embed``, ``size_embed``),
``head.bnneck.*`` and ``head.classifier.weight`` (:class:`BNNeckHead`), and
``logit_scale`` (:class:`OptiSarContrastive`).

Entries that no forward of the target model reads are dropped and listed:
the ViT's ImageNet head (``fc.*`` / ``head.*`` / ``pre_logits.*``) always;
``logit_scale`` for the ReID model; ``bottleneck.*`` / ``classifier.*`` for
the pretraining model. Any other unknown key is an error.
"""
import re
from typing import Dict, List, Mapping, Tuple

import torch
from mmengine.logging import print_log

#: Released ViT name (without ``base.``) -> mmosar backbone name.
_BACKBONE_RULES = (
    (r'^cls_token$', 'cls_token'),
    (r'^pos_embed$', 'pos_embed'),
    (r'^mie_embed$', 'modality_embed'),
    (r'^patch_embed\.proj\.(weight|bias)$', r'patch_embed.projection.\1'),
    (r'^patch_embed_SAR\.proj\.(weight|bias)$',
     r'patch_embed_sar.projection.\1'),
    (r'^blocks\.(\d+)\.norm1\.(weight|bias)$', r'layers.\1.ln1.\2'),
    (r'^blocks\.(\d+)\.norm2\.(weight|bias)$', r'layers.\1.ln2.\2'),
    (r'^blocks\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)$',
     r'layers.\1.attn.\2.\3'),
    (r'^blocks\.(\d+)\.mlp\.fc1\.(weight|bias)$',
     r'layers.\1.ffn.layers.0.0.\2'),
    (r'^blocks\.(\d+)\.mlp\.fc2\.(weight|bias)$',
     r'layers.\1.ffn.layers.1.\2'),
    (r'^norm\.(weight|bias)$', r'ln1.\1'),
    (r'^wh_embed\.linear_layer\.(weight|bias)$', r'size_embed.\1'),
)
#: ViT entries no TransOSS forward reads (ImageNet classification head).
_BACKBONE_UNUSED = (r'^fc\.', r'^head\.', r'^pre_logits\.')
#: Full-model (non-``base.``) entries -> mmosar name, per target model.
_HEAD_RULES = {
    'reid': ((r'^bottleneck\.(.+)$', r'head.bnneck.\1'),
             (r'^classifier\.weight$', 'head.classifier.weight')),
    'pretrain': ((r'^logit_scale$', 'logit_scale'), ),
}
_HEAD_UNUSED = {
    'reid': (r'^logit_scale$', ),
    'pretrain': (r'^bottleneck\.', r'^classifier\.'),
}
TARGETS = tuple(_HEAD_RULES)


def _rename(key: str, rules) -> str:
    for pattern, repl in rules:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    return ''


def transoss_conversion(
        state_dict: Mapping[str, torch.Tensor],
        target: str = 'reid',
        sar_from_optical: bool = True
) -> Tuple[Dict[str, torch.Tensor], List[str], List[str]]:
    """Convert a released state dict and say what was done.

    Args:
        state_dict: Released tensors (any layout above).
        target: ``'reid'`` (:class:`TransOSS`) or ``'pretrain'``
            (:class:`OptiSarContrastive`).
        sar_from_optical: When the checkpoint has no SAR patch embedding
            (timm ImageNet ViT), copy the optical one, as the release's
            ``TransOSS.load_param`` does.

    Returns:
        tuple: The converted state dict (mmosar full-model names), the
        dropped released keys and notes (e.g. the SAR head copy).

    Raises:
        ValueError: Listing every key that is neither converted nor known
            to be unused.
    """
    if target not in TARGETS:
        raise ValueError(f'target must be one of {TARGETS}, got {target!r}')
    keys = list(state_dict)
    if keys and all(k.startswith('module.') for k in keys):
        state_dict = {k[len('module.'):]: v for k, v in state_dict.items()}
    full_model = any(k.startswith('base.') for k in state_dict)
    out, dropped, unknown, notes = {}, [], [], []
    for key, value in state_dict.items():
        if full_model and not key.startswith('base.'):
            name, prefix = key, ''
            rules, unused = _HEAD_RULES[target], _HEAD_UNUSED[target]
        else:
            name = key[len('base.'):] if full_model else key
            prefix, rules, unused = 'backbone.', _BACKBONE_RULES, \
                _BACKBONE_UNUSED
        new = _rename(name, rules)
        if new:
            out[prefix + new] = value
        elif any(re.match(p, name) for p in unused):
            dropped.append(key)
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(
            f'{len(unknown)} key(s) of the TransOSS checkpoint are not '
            f'known released names (target {target!r}): {sorted(unknown)}')
    sar = 'backbone.patch_embed_sar.projection.'
    opt = 'backbone.patch_embed.projection.'
    if sar_from_optical and opt + 'weight' in out and \
            sar + 'weight' not in out:
        for name in ('weight', 'bias'):
            if opt + name in out:
                out[sar + name] = out[opt + name].clone()
        notes.append('no SAR patch embedding in the checkpoint: copied the '
                     'optical one (as the release does)')
    return out, sorted(dropped), notes


def convert_transoss(state_dict: Mapping[str, torch.Tensor],
                     target: str = 'reid',
                     sar_from_optical: bool = True) -> Dict[str,
                                                            torch.Tensor]:
    """Released TransOSS state dict -> mmosar full-model names.

    The converter registered as ``'transoss'`` for
    :func:`mmosar.utils.checkpoint.load_pretrained_strict`; dropped keys
    and notes are logged. See :func:`transoss_conversion`.
    """
    out, dropped, notes = transoss_conversion(state_dict, target,
                                              sar_from_optical)
    if dropped:
        print_log(f'TransOSS converter: dropped unused released entries '
                  f'{dropped}', logger='current')
    for note in notes:
        print_log(f'TransOSS converter: {note}', logger='current')
    return out
