"""Released M4-SAR (Ultralytics 8.3.8 fork) weights -> mmosar names.

The released models are Ultralytics ``nn.Sequential`` graphs: every entry
is ``model.<layer index>.<path inside the layer>``. The conversion is a
table of :class:`LayerSpec` (released layer index -> mmosar module prefix
and a *kind* that renames the path inside the layer):

=============  ===============================================================
kind           rename inside the layer
=============  ===============================================================
``yolo``       Ultralytics blocks (Conv, C3k2, C3k, Bottleneck, SPPF, C2PSA,
               PSABlock) -> mmosar ``yolo_blocks``: path tokens ``cv1/cv2/
               cv3`` -> ``conv1/conv2/conv3``, ``m`` -> ``blocks``; ``conv``
               and ``bn`` stay (mmcv ``ConvModule`` uses the same names).
``obb_head``   ``OBB`` head: ``cv2.<l>`` box branch -> ``box_branches.<l>``,
               ``cv3.<l>.{0.0,0.1,1.0,1.1,2}`` class branch ->
               ``cls_branches.<l>.{0,1,2,3,4}``, ``cv4.<l>`` angle branch ->
               ``angle_branches.<l>``; ``dfl.conv.weight`` is a constant.
``cmim``       E2E-OSDet ``CMIM`` (``op.*`` of ``ConMB_SS2D``), see
               :func:`convert_cmim`.
``afm``        E2E-OSDet ``AFM`` (``mlla.*`` of ``MLLABlock``), see
               :data:`AFM_RENAMES`.
``fam``        ``FAM_OPT`` / ``FAM_SAR``: only the constant window masks.
=============  ===============================================================

Reusable pieces for the other models of the fork (the six M4-SAR baselines
share YOLO11 streams, neck and OBB head): :func:`yolo11_stream_specs`,
:func:`yolo11_neck_specs`, :func:`obb_head_specs` and
:func:`convert_with_table`. A model of the fork with its own fusion layers
only lists its layer indices and adds a converter for its new kind, e.g.::

    table = (yolo11_stream_specs(range(3, 13), 'backbone.streams.optical')
             + ...  # the SAR stream, its fusion layers as LayerSpec(i,
                    # 'backbone.fusions.0', 'my_fusion')
             + yolo11_neck_specs((..)) + obb_head_specs(..))
    convert_with_table(weights, table,
                       converters=dict(my_fusion=convert_my_fusion),
                       dead_patterns=dict(my_fusion=('unused.*', )))

*Released constants* (the FAM masks, the DFL projection ``0..15``) are not
mmosar weights: the converter checks that a checkpoint holds the released
values and returns them separately (:attr:`Conversion.constants`).
*Dead layers* (built by the release but used by no forward, the manifest's
``unused_in_forward``: CMIM ``conv2d*``/``fc1``/``fc2``, AFM
``act_proj_1``/``norm2``) are dropped and listed
(:attr:`Conversion.dropped`). Any other released entry that no table row
consumes is an error listing it.
"""
import fnmatch
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor

#: Released path token -> mmosar token inside YOLO blocks.
YOLO_TOKEN_RENAMES = {'cv1': 'conv1', 'cv2': 'conv2', 'cv3': 'conv3',
                      'm': 'blocks'}

#: AFM (``mlla.<released>`` -> ``<mmosar>``), the rest of the path kept.
AFM_RENAMES = {
    'cpe1': 'cpe_opt',
    'cpe1_1': 'cpe_sar',
    'norm1': 'norm_opt',
    'norm1_1': 'norm_sar',
    'act_proj': 'gate_proj',
    'in_proj': 'value_proj_opt',
    'in_proj_1': 'value_proj_sar',
    'dwc': 'value_conv_opt',
    'dwc_1': 'value_conv_sar',
    'attn.qkv': 'attn.qkv',
    'attn.qkv1': 'attn.qkv_second',
    'attn.proj': 'attn.proj',
    'attn.pe': 'attn.pe',
    'out_proj': 'out_proj',
    'cpe2': 'cpe_out',
}

#: CMIM one-to-one entries (``op.<released>`` -> ``<mmosar>``).
CMIM_RENAMES = {
    'x_proj_weight': 'x_proj_weight',
    'dt_projs_weight': 'dt_proj_weight',
    'dt_projs_bias': 'dt_proj_bias',
    'A_logs': 'A_log',
    'Ds': 'D',
    'conv1d.weight': 'token_conv.optical.weight',
    'conv1d.bias': 'token_conv.optical.bias',
    'conv1d_modalx.weight': 'token_conv.sar.weight',
    'conv1d_modalx.bias': 'token_conv.sar.bias',
    'out_norm1.weight': 'out_norm.optical.weight',
    'out_norm1.bias': 'out_norm.optical.bias',
    'out_norm2.weight': 'out_norm.sar.weight',
    'out_norm2.bias': 'out_norm.sar.bias',
    'out_proj.weight': 'out_proj.optical.weight',
    'out_proj1.weight': 'out_proj.sar.weight',
}
#: CMIM value and gate projections, concatenated (values first) into
#: mmosar's ``in_proj.<modality>.weight`` (``C -> 2D``).
CMIM_IN_PROJ = {'optical': ('in_proj.weight', 'in_proj_act.weight'),
                'sar': ('in_proj_modalx.weight',
                        'in_proj_modalx_act.weight')}

#: Released entries built but never used by a forward pass (glob patterns
#: relative to the layer).
DEAD_PATTERNS = {
    'cmim': ('op.conv2d.*', 'op.conv2d_modalx.*', 'op.fc1.*', 'op.fc2.*'),
    'afm': ('mlla.act_proj_1.*', 'mlla.norm2.*'),
}

#: Released window masks of FAM (``grad.<name>``: index in
#: :func:`mmosar.models.layers.fam.half_window_masks`).
FAM_MASKS = ('weight_x1', 'weight_x2', 'weight_y1', 'weight_y2')


@dataclass(frozen=True)
class LayerSpec:
    """One released layer: ``model.<index>.*`` -> ``<target>.*``."""

    index: int
    target: str
    kind: str = 'yolo'


@dataclass
class Conversion:
    """Result of a conversion.

    Attributes:
        state_dict: mmosar names -> tensors.
        constants: released constant entries by released name (FAM masks,
            DFL projection), not part of mmosar's state dict.
        dropped: released entries of dead layers that were dropped.
    """

    state_dict: Dict[str, Tensor] = field(default_factory=dict)
    constants: Dict[str, Tensor] = field(default_factory=dict)
    dropped: List[str] = field(default_factory=list)


class ConversionError(ValueError):
    """Released entries that no rule converts, or a missing partner entry."""


def yolo_path(path: str) -> str:
    """Rename a path inside an Ultralytics block (``m.0.cv1.conv.weight``
    -> ``blocks.0.conv1.conv.weight``)."""
    return '.'.join(YOLO_TOKEN_RENAMES.get(t, t) for t in path.split('.'))


def yolo11_stream_specs(indices: Sequence[int],
                        prefix: str) -> List[LayerSpec]:
    """One YOLO11 backbone stream, as built by
    :func:`mmosar.models.backbones.yolo11_csp.build_yolo11_stages`.

    Args:
        indices: the 10 released layer indices of the stream in order
            ``Conv, Conv, C3k2, Conv, C3k2`` (P3 stage), ``Conv, C3k2``
            (P4), ``Conv, C3k2, SPPF`` (P5); 9 when the stream has no SPPF
            of its own (a model that applies it after fusion).
        prefix: mmosar prefix of the stages, e.g.
            ``'backbone.streams.optical'`` (stage ``s``, block ``j`` ->
            ``<prefix>.<s>.<j>``).
    """
    layout = [(0, j) for j in range(5)] + [(1, 0), (1, 1)] + [(2, j)
                                                            for j in range(3)]
    if len(indices) not in (len(layout) - 1, len(layout)):
        raise ValueError(f'a YOLO11 stream has {len(layout)} layers (or '
                         f'{len(layout) - 1} without SPPF), got '
                         f'{len(indices)} indices')
    return [
        LayerSpec(i, f'{prefix}.{s}.{j}') for i, (s, j) in zip(indices, layout)
    ]


#: mmosar YOLO11PAFPN modules in released order (Upsample / Concat layers
#: have no weights).
YOLO11_NECK_MODULES = ('top_down_p4', 'top_down_p3', 'downsample_p3',
                       'bottom_up_p4', 'downsample_p4', 'bottom_up_p5')


def yolo11_neck_specs(indices: Sequence[int],
                      prefix: str = 'neck') -> List[LayerSpec]:
    """The YOLO11 PAN: 6 released layer indices (C3k2, C3k2, Conv, C3k2,
    Conv, C3k2) -> :data:`YOLO11_NECK_MODULES`."""
    if len(indices) != len(YOLO11_NECK_MODULES):
        raise ValueError(f'the YOLO11 neck has {len(YOLO11_NECK_MODULES)} '
                         f'weighted layers, got {len(indices)} indices')
    return [
        LayerSpec(i, f'{prefix}.{m}')
        for i, m in zip(indices, YOLO11_NECK_MODULES)
    ]


def obb_head_specs(index: int, prefix: str = 'bbox_head') -> List[LayerSpec]:
    """The Ultralytics ``OBB`` head -> :class:`YOLOOBBHead`."""
    return [LayerSpec(index, prefix, 'obb_head')]


#: E2E-OSDet (``yolo11-obb-E2E-OSDet.yaml``, scale s) layer table.
E2E_OSDET_TABLE: Tuple[LayerSpec, ...] = tuple(
    [LayerSpec(1, 'backbone.fams.optical', 'fam'),
     LayerSpec(2, 'backbone.fams.sar', 'fam')]
    + yolo11_stream_specs((3, 4, 5, 6, 7, 16, 17, 23, 24, 25),
                          'backbone.streams.optical')
    + yolo11_stream_specs((8, 9, 10, 11, 12, 18, 19, 26, 27, 28),
                          'backbone.streams.sar')
    + [LayerSpec(i, f'backbone.cmims.{n}', 'cmim')
       for n, i in enumerate((13, 20, 29))]
    + [LayerSpec(i, f'backbone.fusions.{n}', 'afm')
       for n, i in enumerate((32, 33, 34))]
    + [LayerSpec(35, 'backbone.c2psa')]
    + yolo11_neck_specs((38, 41, 42, 44, 45, 47))
    + obb_head_specs(48))


def released_constants(reg_max: int = 16,
                       radius: int = 5) -> Dict[str, Tensor]:
    """Released values of the constant entries, by path inside the layer:
    FAM ``grad.weight_*`` (11x11 masks) and OBB ``dfl.conv.weight``."""
    from mmosar.models.layers.fam import half_window_masks
    masks = half_window_masks(radius)
    out = {f'grad.{n}': masks[i:i + 1] for i, n in enumerate(FAM_MASKS)}
    out['dfl.conv.weight'] = torch.arange(
        reg_max, dtype=torch.float32).view(1, reg_max, 1, 1)
    return out


# ------------------------------------------------------------ layer kinds
def _convert_yolo(entries: Dict[str, Tensor], target: str,
                  out: Conversion) -> List[str]:
    for path, value in entries.items():
        out.state_dict[f'{target}.{yolo_path(path)}'] = value
    return list(entries)


def _convert_obb_head(entries: Dict[str, Tensor], target: str,
                      out: Conversion) -> List[str]:
    cls_index = {'0.0': '0', '0.1': '1', '1.0': '2', '1.1': '3', '2': '4'}
    used = []
    for path, value in entries.items():
        tokens = path.split('.')
        if path == 'dfl.conv.weight':
            out.constants[path] = value
        elif tokens[0] in ('cv2', 'cv4'):
            branch = 'box_branches' if tokens[0] == 'cv2' else 'angle_branches'
            rest = '.'.join(tokens[2:])
            out.state_dict[f'{target}.{branch}.{tokens[1]}.{rest}'] = value
        elif tokens[0] == 'cv3':
            inner = '.'.join(tokens[2:4]) if tokens[2] != '2' else '2'
            rest = tokens[4:] if tokens[2] != '2' else tokens[3:]
            if inner not in cls_index:
                continue
            out.state_dict['.'.join(
                [f'{target}.cls_branches.{tokens[1]}', cls_index[inner]] +
                rest)] = value
        else:
            continue
        used.append(path)
    return used


def convert_cmim(entries: Dict[str, Tensor], target: str,
                 out: Conversion) -> List[str]:
    """CMIM (``op.*`` of the released ``ConMB_SS2D``).

    One-to-one renames (:data:`CMIM_RENAMES`); per modality the released
    value projection (``in_proj`` / ``in_proj_modalx``) and gate projection
    (``in_proj_act`` / ``in_proj_modalx_act``), each ``(D, C)``, become
    mmosar's ``in_proj.<modality>.weight`` ``(2D, C)``, values first.
    """
    used = []
    for path, name in CMIM_RENAMES.items():
        if f'op.{path}' in entries:
            out.state_dict[f'{target}.{name}'] = entries[f'op.{path}']
            used.append(f'op.{path}')
    for modality, (value, gate) in CMIM_IN_PROJ.items():
        have = [f'op.{p}' in entries for p in (value, gate)]
        if any(have) and not all(have):
            raise ConversionError(
                f'{target}: CMIM needs both op.{value} and op.{gate}, got '
                f'only one')
        if all(have):
            out.state_dict[f'{target}.in_proj.{modality}.weight'] = torch.cat(
                [entries[f'op.{value}'], entries[f'op.{gate}']])
            used += [f'op.{value}', f'op.{gate}']
    return used


def _convert_afm(entries: Dict[str, Tensor], target: str,
                 out: Conversion) -> List[str]:
    used = []
    for path, value in entries.items():
        if not path.startswith('mlla.'):
            continue
        inner = path[len('mlla.'):]
        # longest released module name that prefixes the path
        for name in sorted(AFM_RENAMES, key=len, reverse=True):
            if inner.startswith(name + '.'):
                rest = inner[len(name) + 1:]
                out.state_dict[f'{target}.{AFM_RENAMES[name]}.{rest}'] = value
                used.append(path)
                break
    return used


def _convert_fam(entries: Dict[str, Tensor], target: str,
                 out: Conversion) -> List[str]:
    used = []
    for path, value in entries.items():
        if path in {f'grad.{n}' for n in FAM_MASKS}:
            out.constants[path] = value
            used.append(path)
    return used


#: kind -> converter ``(entries of the layer by inner path, target prefix,
#: result) -> inner paths it consumed``.
KIND_CONVERTERS: Dict[str, Callable[[Dict[str, Tensor], str, Conversion],
                                    List[str]]] = {
    'yolo': _convert_yolo,
    'obb_head': _convert_obb_head,
    'cmim': convert_cmim,
    'afm': _convert_afm,
    'fam': _convert_fam,
}


def convert_with_table(
        state_dict: Mapping[str, Tensor],
        table: Sequence[LayerSpec],
        check_constants: bool = True,
        source: str = 'weights',
        converters: Optional[Mapping[str, Callable]] = None,
        dead_patterns: Optional[Mapping[str, Sequence[str]]] = None
) -> Conversion:
    """Convert released ``model.<i>.*`` entries with a layer table.

    Args:
        state_dict: released names -> tensors.
        table: one :class:`LayerSpec` per weighted released layer.
        check_constants: require the constant entries (FAM masks, DFL
            projection) to hold the released values; False keeps whatever
            they hold (fixture weights) in :attr:`Conversion.constants`.
        source: named in errors.
        converters: kind -> converter, merged over
            :data:`KIND_CONVERTERS` (a model with other fusion layers adds
            its kinds here).
        dead_patterns: kind -> glob patterns of dead entries, merged over
            :data:`DEAD_PATTERNS`.

    Raises:
        ConversionError: entries of unknown layers or that no rule of their
        layer converts (all listed), or constants that differ from the
        released values.
    """
    by_layer: Dict[int, Dict[str, Tensor]] = {}
    unknown = []
    for name, value in state_dict.items():
        parts = name.split('.', 2)
        if len(parts) == 3 and parts[0] == 'model' and parts[1].isdigit():
            by_layer.setdefault(int(parts[1]), {})[parts[2]] = value
        else:
            unknown.append(name)
    converters = {**KIND_CONVERTERS, **(converters or {})}
    dead_patterns = {**DEAD_PATTERNS, **(dead_patterns or {})}
    out = Conversion()
    specs = {s.index: s for s in table}
    for index, entries in sorted(by_layer.items()):
        spec = specs.get(index)
        if spec is None:
            unknown += [f'model.{index}.{p}' for p in entries]
            continue
        dead = [
            p for p in entries if any(
                fnmatch.fnmatchcase(p, pat)
                for pat in dead_patterns.get(spec.kind, ()))
        ]
        out.dropped += [f'model.{index}.{p}' for p in dead]
        live = {p: v for p, v in entries.items() if p not in dead}
        part = Conversion()  # constants come back by path in the layer
        used = set(converters[spec.kind](live, spec.target, part))
        unknown += [f'model.{index}.{p}' for p in live if p not in used]
        out.state_dict.update(part.state_dict)
        out.constants.update(
            {f'model.{index}.{p}': v
             for p, v in part.constants.items()})
    if unknown:
        raise ConversionError(
            f'{source}: {len(unknown)} released entries match no conversion '
            'rule: ' + ', '.join(unknown[:40]) +
            (' ...' if len(unknown) > 40 else ''))
    if check_constants:
        expected = released_constants()
        wrong = [
            name for name, value in out.constants.items()
            if not torch.equal(value.float(),
                               expected[name.split('.', 2)[2]])
        ]
        if wrong:
            raise ConversionError(
                f'{source}: constant entries differ from the released '
                f'values (FAM masks / DFL 0..15): {", ".join(wrong)}')
    return out


def convert_e2e_osdet(state_dict: Mapping[str, Tensor],
                      check_constants: bool = True,
                      source: str = 'weights') -> Conversion:
    """Released E2E-OSDet weights -> mmosar's E2E-OSDet (scale s) names."""
    return convert_with_table(state_dict, E2E_OSDET_TABLE, check_constants,
                              source)


def mmosar_name(released: str, table: Sequence[LayerSpec]) -> str:
    """mmosar name of the parameter that holds released entry ``released``
    (for the halves of a concatenated CMIM projection: the concatenation).

    Raises:
        ConversionError: for dead or constant entries and unknown names.
    """
    index, path = int(released.split('.')[1]), released.split('.', 2)[2]
    spec = next((s for s in table if s.index == index), None)
    if spec is not None and spec.kind == 'cmim':
        for modality, halves in CMIM_IN_PROJ.items():
            if path in {f'op.{h}' for h in halves}:
                return f'{spec.target}.in_proj.{modality}.weight'
    conversion = convert_with_table({released: torch.zeros(1)}, table,
                                    check_constants=False, source=released)
    if len(conversion.state_dict) != 1:
        raise ConversionError(f'{released}: not a converted weight (dead or '
                              'constant entry)')
    return next(iter(conversion.state_dict))


def convert_e2e_osdet_checkpoint(src: str, dst: str, config: str) -> Tuple[
        Conversion, str]:
    """Released checkpoint ``src`` -> mmosar checkpoint ``dst``.

    ``src``: an Ultralytics ``best.pt`` (read with
    :func:`~mmosar.utils.converters.ultralytics_ckpt.load_ultralytics_state_dict`)
    or a state dict in released names. The converted weights must match the
    model that ``config`` builds exactly (missing / unexpected keys and
    shape mismatches are an error listing them). ``dst`` holds
    ``state_dict`` and ``meta`` (source, which released entry, the dropped
    dead entries, the config).

    Returns:
        tuple: the :class:`Conversion` and the released entry used
        (``'ema'``, ``'model'`` or ``'state_dict'``).
    """
    import os.path as osp

    from mmengine.config import Config

    from mmosar.registry import MODELS
    from mmosar.utils import register_all_modules
    from mmosar.utils.checkpoint import check_state_dict_keys

    from .ultralytics_ckpt import load_ultralytics_state_dict
    register_all_modules(init_default_scope=True)
    released, entry = load_ultralytics_state_dict(src)
    conversion = convert_e2e_osdet(released, source=src)
    own = MODELS.build(Config.fromfile(config).model).state_dict()
    check_state_dict_keys(
        own.keys(),
        conversion.state_dict.keys(),
        source=src,
        shape_errors=[
            f'{k}: weights {tuple(v.shape)} vs model {tuple(own[k].shape)}'
            for k, v in conversion.state_dict.items()
            if k in own and v.shape != own[k].shape
        ])
    torch.save(
        dict(
            state_dict=conversion.state_dict,
            meta=dict(
                source=osp.abspath(src),
                released_entry=entry,
                dropped_dead_entries=conversion.dropped,
                config=osp.abspath(config))), dst)
    return conversion, entry
