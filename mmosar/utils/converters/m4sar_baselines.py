"""Released M4-SAR benchmark baselines -> mmosar weight names.

The released code (wchao0601/M4-SAR, an Ultralytics 8.3.8 fork) builds each
baseline from a yaml as one flat ``nn.Sequential``: every weight is named
``model.<layer index>.<rest>``. In mmosar the same model is a
``SingleStageDetector`` with :class:`~mmosar.models.TwoStreamFusionBackbone`,
:class:`~mmosar.models.YOLO11PAFPN` and :class:`~mmosar.models.YOLOOBBHead`.

The conversion is table-driven:

1. :data:`BASELINE_LAYOUTS` says, per baseline, which released layer index
   is which mmosar module (stream layers, interactions, fusions, SPPF,
   C2PSA, the neck, the head), as read from the released yamls
   ``ultralytics/cfg/models/benchmark/yolo11-obb-<model>.yaml``;
2. :data:`LOCAL_RENAMES` maps the names inside a module of each released
   class to mmosar's names (regular expressions, first match wins);
3. a few mmosar parameters stack several released scalars
   (:data:`STACKED`);
4. released weights that no forward uses (:data:`RELEASED_UNUSED`) and the
   constant DFL projection are dropped; everything else must be mapped, or
   the conversion fails naming the key.

Stream layers keep their position in :func:`build_yolo11_stages`: stage 0
holds ``Conv, Conv, C3k2`` (P2) then ``Conv, C3k2`` (P3); stage 1
``Conv, C3k2`` (P4); stage 2 ``Conv, C3k2[, SPPF]`` (P5).
"""
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Sequence, Tuple

import torch

#: Stream layer positions ``(stage, index)`` in released order.
STREAM_POSITIONS: Tuple[Tuple[int, int], ...] = ((0, 0), (0, 1), (0, 2),
                                                 (0, 3), (0, 4), (1, 0),
                                                 (1, 1), (2, 0), (2, 1),
                                                 (2, 2))

#: Neck layers relative to the first neck layer (an Upsample).
NECK_OFFSETS: Dict[int, str] = {
    2: 'neck.top_down_p4',
    5: 'neck.top_down_p3',
    6: 'neck.downsample_p3',
    8: 'neck.bottom_up_p4',
    9: 'neck.downsample_p4',
    11: 'neck.bottom_up_p5',
}
HEAD_OFFSET = 12

_P2_TO_P5_STREAMS = dict(
    optical=(3, 4, 5, 12, 13, 19, 20, 26, 27, 28),
    sar=(6, 7, 8, 14, 15, 21, 22, 29, 30, 31))

#: Released layer layout of each baseline (see the module docstring).
#: ``interactions`` / ``fusions``: released index -> (level, released
#: class); ``c2psa``: index of the C2PSA on the fused P5;
#: ``stream_c2psa``: index -> modality; ``neck``: first neck layer.
BASELINE_LAYOUTS: Dict[str, dict] = dict(
    CFT=dict(
        streams=_P2_TO_P5_STREAMS,
        interactions={
            9: ('p2', 'GPT'), 16: ('p3', 'GPT'), 23: ('p4', 'GPT'),
            32: ('p5', 'GPT')
        },
        fusions={35: ('p3', 'Conadd'), 36: ('p4', 'Conadd'),
                 37: ('p5', 'Conadd')},
        c2psa=38, neck=39),
    MMIDet=dict(
        streams=_P2_TO_P5_STREAMS,
        interactions={
            9: ('p2', 'MMI_fourier'), 16: ('p3', 'GPT'), 23: ('p4', 'GPT'),
            32: ('p5', 'GPT')
        },
        fusions={35: ('p3', 'Conadd'), 36: ('p4', 'Conadd'),
                 37: ('p5', 'Conadd')},
        c2psa=38, neck=39),
    CMADet=dict(
        streams=_P2_TO_P5_STREAMS,
        interactions={
            9: ('p2', 'OSR'), 16: ('p3', 'OSR'), 23: ('p4', 'OSR'),
            32: ('p5', 'OSR')
        },
        fusions={35: ('p3', 'CMA'), 36: ('p4', 'CMA'), 37: ('p5', 'CMA')},
        c2psa=38, neck=39),
    CALNet=dict(
        streams=dict(
            optical=(3, 4, 5, 6, 7, 16, 17, 23, 24, 25),
            sar=(8, 9, 10, 11, 12, 18, 19, 26, 27, 28)),
        interactions={13: ('p3', 'GPTcross'), 20: ('p4', 'GPTcross'),
                      29: ('p5', 'GPTcross')},
        fusions={32: ('p3', 'Conadd'), 33: ('p4', 'Conadd'),
                 34: ('p5', 'Conadd')},
        c2psa=35, neck=36),
    CSSA=dict(
        streams=dict(optical=tuple(range(3, 12)), sar=tuple(range(12, 21))),
        interactions={},
        fusions={21: ('p3', 'CSSA'), 22: ('p4', 'CSSA'),
                 23: ('p5', 'CSSA')},
        sppf=24, c2psa=25, neck=26),
    ICAFusion=dict(
        streams=dict(optical=tuple(range(3, 13)), sar=tuple(range(14, 24))),
        stream_c2psa={13: 'optical', 24: 'sar'},
        interactions={},
        fusions={25: ('p3', 'ICAFusion'), 26: ('p4', 'ICAFusion'),
                 27: ('p5', 'ICAFusion')},
        neck=28),
)

_CFT_BLOCKS = [
    (r'^pos_emb$', 'pos_embed'),
    (r'^ln_f\.', 'norm.'),
    (r'^trans_blocks\.(\d+)\.ln_input\.', r'blocks.\1.norm1.'),
    (r'^trans_blocks\.(\d+)\.ln_output\.', r'blocks.\1.norm2.'),
    (r'^trans_blocks\.(\d+)\.sa\.que_proj\.', r'blocks.\1.attn.q_proj.'),
    (r'^trans_blocks\.(\d+)\.sa\.key_proj\.', r'blocks.\1.attn.k_proj.'),
    (r'^trans_blocks\.(\d+)\.sa\.val_proj\.', r'blocks.\1.attn.v_proj.'),
    (r'^trans_blocks\.(\d+)\.sa\.out_proj\.', r'blocks.\1.attn.out_proj.'),
    (r'^trans_blocks\.(\d+)\.mlp\.([02])\.', r'blocks.\1.ffn.\2.'),
]
_CEM = 'channel_enhance.'
_CEM_LAYER = r'^cem\.transformer\.layers\.0\.'

#: Released class -> [(regex on the name inside the module, replacement)].
LOCAL_RENAMES: Dict[str, List[Tuple[str, str]]] = dict(
    # YOLO blocks (Conv, C3k2, C3k, Bottleneck, SPPF, C2PSA, PSABlock)
    yolo=[(r'(^|\.)cv(\d)\.', r'\1conv\2.'),
          (r'(^|\.)m\.(\d)', r'\1blocks.\2')],
    head=[
        (r'^cv2\.(\d)\.(\d)\.', r'bbox_head.box_branches.\1.\2.'),
        (r'^cv4\.(\d)\.(\d)\.', r'bbox_head.angle_branches.\1.\2.'),
        (r'^cv3\.(\d)\.2\.', r'bbox_head.cls_branches.\1.4.'),
        (r'^cv3\.(\d)\.0\.([01])\.', r'bbox_head.cls_branches.\1.\2.'),
        (r'^cv3\.(\d)\.1\.0\.', r'bbox_head.cls_branches.\1.2.'),
        (r'^cv3\.(\d)\.1\.1\.', r'bbox_head.cls_branches.\1.3.'),
    ],
    GPT=_CFT_BLOCKS,
    MMI_fourier=_CFT_BLOCKS + [(r'^conv1\.', 'gate_reduce.'),
                               (r'^conv2\.', 'gate_expand.')],
    OSR=_CFT_BLOCKS + [
        (r'^cem\.pos_embedding$', _CEM + 'channel_embed'),
        (_CEM_LAYER + r'0\.norm\.', _CEM + 'attn_norm.'),
        (_CEM_LAYER + r'0\.fn\.to_qkv\.', _CEM + 'qkv.'),
        (_CEM_LAYER + r'0\.fn\.to_out\.0\.', _CEM + 'attn_out.0.'),
        (_CEM_LAYER + r'1\.norm\.', _CEM + 'ffn_norm.'),
        (_CEM_LAYER + r'1\.fn\.net\.([03])\.', _CEM + r'ffn.\1.'),
    ],
    GPTcross=[
        (r'^pos_emb1$', 'pos_embed_optical'),
        (r'^pos_emb2$', 'pos_embed_sar'),
        (r'^trans_blocks\.(\d+)\.sa\.q\.', r'blocks.\1.attn.q.'),
    ] + [(rf'^trans_blocks\.(\d+)\.sa\.{old}_{src}\.',
          rf'blocks.\1.attn.{new}.{dst}.')
         for old, new in (('kv', 'kv'), ('proj', 'proj'), ('out', 'mix'),
                          ('sr', 'reduce'), ('norm', 'reduce_norm'))
         for src, dst in (('rgb', 'optical'), ('ir', 'sar'))] + [
             p for p in _CFT_BLOCKS
             if 'sa\\.' not in p[0] and 'pos' not in p[0]
    ],
    CSSA=[(r'^eca_rgb\.f\.', 'eca_optical.conv.'),
          (r'^eca_ir\.f\.', 'eca_sar.conv.')],
    ICAFusion=[
        (r'^pos_emb_vis$', 'pos_embed_optical'),
        (r'^pos_emb_ir$', 'pos_embed_sar'),
        (r'^crosstransformer\.(\d+)\.crossatt\.LN1\.',
         r'blocks.\1.attn.norm.optical.'),
        (r'^crosstransformer\.(\d+)\.crossatt\.LN2\.',
         r'blocks.\1.attn.norm.sar.'),
    ] + [(rf'^crosstransformer\.(\d+)\.crossatt\.{p}_proj_{src}\.',
          rf'blocks.\1.attn.{p[0]}_proj.{dst}.')
         for p in ('que', 'key', 'val') for src, dst in (('vis', 'optical'),
                                                         ('ir', 'sar'))] + [
        (r'^crosstransformer\.(\d+)\.crossatt\.out_proj_vis\.',
         r'blocks.\1.attn.out_proj.optical.'),
        (r'^crosstransformer\.(\d+)\.crossatt\.out_proj_ir\.',
         r'blocks.\1.attn.out_proj.sar.'),
        (r'^crosstransformer\.(\d+)\.mlp_vis\.([02])\.',
         r'blocks.\1.ffn.optical.\2.'),
        (r'^crosstransformer\.(\d+)\.mlp_ir\.([02])\.',
         r'blocks.\1.ffn.sar.\2.'),
        (r'^crosstransformer\.(\d+)\.LN2\.', r'blocks.\1.ffn_norm.'),
        (r'^conv1x1_out\.', 'out_conv.'),
    ],
    CMA=[
        (r'^mam\.channel264\.([01])\.', r'align.encoder.\1.'),
        (r'^mam\.channel264\.([2-5])\.0\.', r'align.encoder.\1.conv.'),
        (r'^mam\.channel264\.([2-5])\.1\.', r'align.encoder.\1.bn.'),
        (r'^mam\.xy\.1\.', 'align.shift.'),
        (r'^mam\.scale1\.1\.', 'align.scale_x.'),
        (r'^mam\.scale2\.1\.', 'align.scale_y.'),
        (r'^mam\.fus1\.', 'align.fuse.'),
        (r'^fuse\.channel_weights\.mlp\.([02])\.',
         r'rectify.channel_mlp.\1.'),
        (r'^fuse\.spatial_weights\.mlp\.([02])\.',
         r'rectify.spatial_mlp.\1.'),
    ],
)

#: Released class -> [(mmosar name inside the module, released names whose
#: values are concatenated, in order)]; ``{i}`` is a block index.
STACKED: Dict[str, List[Tuple[str, Sequence[str]]]] = dict(
    ICAFusion=[
        ('pool_weights_optical', ('vis_coefficient.w1',
                                  'vis_coefficient.w2')),
        ('pool_weights_sar', ('ir_coefficient.w1', 'ir_coefficient.w2')),
        ('blocks.{i}.coefficients',
         tuple(f'crosstransformer.{{i}}.coefficient{k}.bias'
               for k in range(1, 9))),
    ])

#: Released class -> regexes of weights the released forward never uses.
RELEASED_UNUSED: Dict[str, List[str]] = dict(ICAFusion=[
    r'^crosstransformer\.\d+\.(ln_input|ln_output|LN1|mlp)\.'
])

#: Released constants not stored by mmosar (the DFL projection 0..15).
RELEASED_CONSTANTS = [r'^dfl\.conv\.weight$']


def layer_table(model: str) -> Dict[int, Tuple[str, str]]:
    """Released layer index -> (mmosar module path, released class) of
    ``model`` (``'CFT'``, ``'CALNet'``, ``'CSSA'``, ``'CMADet'``,
    ``'ICAFusion'`` or ``'MMIDet'``)."""
    if model not in BASELINE_LAYOUTS:
        raise KeyError(f'unknown M4-SAR baseline {model!r}; choose from '
                       f'{sorted(BASELINE_LAYOUTS)}')
    layout = BASELINE_LAYOUTS[model]
    table = {}
    for modality, indices in layout['streams'].items():
        for index, (stage, pos) in zip(indices, STREAM_POSITIONS):
            table[index] = (f'backbone.streams.{modality}.{stage}.{pos}',
                            'yolo')
    for index, modality in layout.get('stream_c2psa', {}).items():
        table[index] = (f'backbone.stream_c2psa.{modality}', 'yolo')
    for index, (level, cls) in layout['interactions'].items():
        table[index] = (f'backbone.interactions.{level}', cls)
    for index, (level, cls) in layout['fusions'].items():
        table[index] = (f'backbone.fusions.{level}', cls)
    for key in ('sppf', 'c2psa'):
        if key in layout:
            table[layout[key]] = (f'backbone.{key}', 'yolo')
    for offset, path in NECK_OFFSETS.items():
        table[layout['neck'] + offset] = (path, 'yolo')
    table[layout['neck'] + HEAD_OFFSET] = ('', 'head')
    return table


def _rename_local(name: str, cls: str) -> str:
    for pattern, repl in LOCAL_RENAMES[cls]:
        new, count = re.subn(pattern, repl, name)
        if count:
            if cls != 'yolo':
                return new
            name = new
    return name if cls == 'yolo' else ''


def convert_m4sar_baseline(
        state_dict: Mapping[str, torch.Tensor],
        model: str,
        source: str = 'state dict') -> 'OrderedDict[str, torch.Tensor]':
    """Convert a released baseline ``state_dict`` to mmosar names.

    Args:
        state_dict: ``{'model.<i>.<rest>': tensor}`` as the released
            ``OBBModel.state_dict()`` (a ``best.pt``'s ``model`` after
            ``.float().state_dict()``).
        model: the baseline, a key of :data:`BASELINE_LAYOUTS`.
        source: file name for error messages.

    Returns:
        OrderedDict: weights named for the mmosar detector built from
        ``configs/m4sar_benchmark/<model>_yolo11s-obb_300e_m4sar.py``.

    Raises:
        KeyError: a released key that no table entry maps.
    """
    table = layer_table(model)
    out = OrderedDict()
    unmapped = []
    pending: Dict[Tuple[str, str], Dict[str, torch.Tensor]] = {}
    for key, value in state_dict.items():
        match = re.match(r'^model\.(\d+)\.(.+)$', key)
        if not match or int(match.group(1)) not in table:
            unmapped.append(key)
            continue
        prefix, cls = table[int(match.group(1))]
        local = match.group(2)
        skip = RELEASED_UNUSED.get(cls, []) + (
            RELEASED_CONSTANTS if cls == 'head' else [])
        if any(re.match(p, local) for p in skip):
            continue
        if any(re.fullmatch(re.escape(src).replace(r'\{i\}', r'\d+'), local)
               for _, sources in STACKED.get(cls, [])
               for src in sources):
            pending.setdefault((prefix, cls), {})[local] = value
            continue
        new = _rename_local(local, cls)
        if not new:
            unmapped.append(key)
            continue
        out['.'.join(p for p in (prefix, new) if p)] = value
    for (prefix, cls), values in pending.items():
        out.update(_stack(prefix, cls, values, source))
    if unmapped:
        raise KeyError(f'{source}: {len(unmapped)} released {model} weights '
                       f'have no mmosar name: {unmapped[:20]}')
    return out


def _stack(prefix: str, cls: str, values: Dict[str, torch.Tensor],
           source: str) -> Dict[str, torch.Tensor]:
    """Concatenate the released scalars of :data:`STACKED`."""
    out, used = {}, set()
    blocks = sorted({
        int(m.group(1))
        for m in (re.match(r'^\w+\.(\d+)\.', k) for k in values) if m
    }) or [0]
    for target, sources in STACKED[cls]:
        for i in (blocks if '{i}' in target else [None]):
            names = [s.format(i=i) for s in sources]
            missing = [n for n in names if n not in values]
            if missing:
                raise KeyError(f'{source}: {prefix} lacks {missing}')
            used.update(names)
            out[f'{prefix}.{target.format(i=i)}'] = torch.cat(
                [values[n].reshape(-1) for n in names])
    extra = sorted(set(values) - used)
    if extra:
        raise KeyError(f'{source}: {prefix}: unmapped {extra}')
    return out
