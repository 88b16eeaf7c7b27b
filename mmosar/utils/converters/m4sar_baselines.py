"""Released M4-SAR benchmark baselines -> mmosar weight names.

The released code (wchao0601/M4-SAR, an Ultralytics 8.3.8 fork) builds each
baseline from a yaml as one flat ``nn.Sequential``: every weight is named
``model.<layer index>.<rest>``. In mmosar the same model is a
``SingleStageDetector`` with :class:`~mmosar.models.TwoStreamFusionBackbone`,
:class:`~mmosar.models.YOLO11PAFPN` and :class:`~mmosar.models.YOLOOBBHead`.

The conversion uses the layer-table machinery of the E2E-OSDet converter
(:mod:`mmosar.utils.converters.m4sar`): the YOLO11 streams, neck and OBB
head are the shared ``yolo`` / ``obb_head`` rows and rules, and this module
adds only what differs per baseline:

1. :data:`BASELINE_LAYOUTS` says, per baseline, which released layer index
   is which mmosar module (stream layers, interactions, fusions, SPPF,
   C2PSA, the neck), as read from the released yamls
   ``ultralytics/cfg/models/benchmark/yolo11-obb-<model>.yaml``;
2. :data:`FUSION_RENAMES` maps the names inside each released fusion class
   to mmosar's names (regular expressions, first match wins);
3. a few mmosar parameters stack several released scalars
   (:data:`STACKED`);
4. released weights that no forward uses (:data:`DEAD_FUSION_PATTERNS`) are
   dropped and listed, and the DFL projection is checked as a constant;
   everything else must be mapped, or the conversion fails naming the key.
"""
import re
from typing import Callable, Dict, List, Mapping, Sequence, Tuple

import torch

from .m4sar import (
    Conversion,
    ConversionError,
    LayerSpec,
    convert_with_table,
    obb_head_specs,
    yolo11_neck_specs,
    yolo11_stream_specs,
)

#: The six weighted YOLO11 neck layers relative to the first neck layer
#: (an Upsample), and the OBB head's.
NECK_OFFSETS = (2, 5, 6, 8, 9, 11)
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

#: Released fusion class -> [(regex on the name inside the module,
#: replacement)], first match wins.
FUSION_RENAMES: Dict[str, List[Tuple[str, str]]] = dict(
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

#: Released fusion class -> glob patterns (inside the layer) of weights the
#: released forward never uses.
DEAD_FUSION_PATTERNS: Dict[str, Sequence[str]] = dict(ICAFusion=tuple(
    f'crosstransformer.{i}.{name}.*' for i in '0123456789'
    for name in ('ln_input', 'ln_output', 'LN1', 'mlp')))


def baseline_table(model: str) -> List[LayerSpec]:
    """One :class:`LayerSpec` per weighted released layer of ``model``
    (``'CFT'``, ``'CALNet'``, ``'CSSA'``, ``'CMADet'``, ``'ICAFusion'`` or
    ``'MMIDet'``); fusion layers have their released class as kind."""
    if model not in BASELINE_LAYOUTS:
        raise KeyError(f'unknown M4-SAR baseline {model!r}; choose from '
                       f'{sorted(BASELINE_LAYOUTS)}')
    layout = BASELINE_LAYOUTS[model]
    table: List[LayerSpec] = []
    for modality, indices in layout['streams'].items():
        table += yolo11_stream_specs(indices, f'backbone.streams.{modality}')
    for index, modality in layout.get('stream_c2psa', {}).items():
        table.append(LayerSpec(index, f'backbone.stream_c2psa.{modality}'))
    for group in ('interactions', 'fusions'):
        for index, (level, cls) in layout[group].items():
            table.append(LayerSpec(index, f'backbone.{group}.{level}', cls))
    for key in ('sppf', 'c2psa'):
        if key in layout:
            table.append(LayerSpec(layout[key], f'backbone.{key}'))
    table += yolo11_neck_specs([layout['neck'] + o for o in NECK_OFFSETS])
    table += obb_head_specs(layout['neck'] + HEAD_OFFSET)
    return table


def _rename(path: str, cls: str) -> str:
    """mmosar name inside the module, or '' when no rule matches."""
    for pattern, repl in FUSION_RENAMES[cls]:
        new, count = re.subn(pattern, repl, path)
        if count:
            return new
    return ''


def _fusion_converter(cls: str) -> Callable[[Dict[str, torch.Tensor], str,
                                             Conversion], List[str]]:
    """Layer-kind converter of released fusion class ``cls`` (renames and
    stacked scalars)."""
    stacked_sources = [
        re.escape(src).replace(r'\{i\}', r'\d+')
        for _, sources in STACKED.get(cls, []) for src in sources
    ]

    def convert(entries: Dict[str, torch.Tensor], target: str,
                out: Conversion) -> List[str]:
        used, pending = [], {}
        for path, value in entries.items():
            if any(re.fullmatch(p, path) for p in stacked_sources):
                pending[path] = value
                continue
            new = _rename(path, cls)
            if new:
                out.state_dict[f'{target}.{new}'] = value
                used.append(path)
        if pending:
            out.state_dict.update(_stack(target, cls, pending))
            used += list(pending)
        return used

    return convert


FUSION_CONVERTERS = {cls: _fusion_converter(cls) for cls in FUSION_RENAMES}


def convert_m4sar_baseline(state_dict: Mapping[str, torch.Tensor],
                           model: str,
                           source: str = 'state dict',
                           check_constants: bool = True) -> Conversion:
    """Convert a released baseline ``state_dict`` to mmosar names.

    Args:
        state_dict: ``{'model.<i>.<rest>': tensor}`` as the released
            ``OBBModel.state_dict()`` (e.g. from a ``best.pt`` read with
            :func:`~mmosar.utils.converters.load_ultralytics_state_dict`).
        model: the baseline, a key of :data:`BASELINE_LAYOUTS`.
        source: file name for error messages.
        check_constants: require the DFL projection to hold its released
            values (0..15); False for synthetic weights.

    Returns:
        Conversion: ``state_dict`` named for the mmosar detector built from
        ``configs/m4sar_benchmark/<model>_yolo11s-obb_300e_m4sar.py``, the
        dropped dead entries and the constants.

    Raises:
        ConversionError: released keys that no rule maps (all listed), or a
        DFL projection that differs from the released one.
    """
    return convert_with_table(state_dict, baseline_table(model),
                              check_constants, source,
                              converters=FUSION_CONVERTERS,
                              dead_patterns=DEAD_FUSION_PATTERNS)


def _stack(prefix: str, cls: str,
           values: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
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
                raise ConversionError(f'{prefix} lacks released {missing}')
            used.update(names)
            out[f'{prefix}.{target.format(i=i)}'] = torch.cat(
                [values[n].reshape(-1) for n in names])
    return out
