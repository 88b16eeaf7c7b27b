"""Two-stream backbone with pluggable interaction and fusion modules.

The six fusion baselines of the M4-SAR benchmark (CFT, CALNet, CSSA,
CMADet, ICAFusion, MMI-Det) share E2E-OSDet's layout: two unshared YOLO11
streams (optical and SAR), optional *interactions* that update both streams
after a stage, a *fusion* of the two streams at P3, P4 and P5, SPPF and
C2PSA. They differ in which modules sit where::

    optical / SAR image
      -> Conv, Conv, C3k2                               (P2, stride 4)
      -> [interaction p2]       X_o, X_s <- I(X_o, X_s)
      -> Conv, C3k2                                     (P3, stride 8)
      -> [interaction p3]       -> fusion p3 -> fused P3
      -> Conv, C3k2                                     (P4, stride 16)
      -> [interaction p4]       -> fusion p4 -> fused P4
      -> Conv, C3k2, [SPPF], [C2PSA per stream]         (P5, stride 32)
      -> [interaction p5]       -> fusion p5 -> [SPPF] -> [C2PSA] -> P5

An interaction maps ``(X_o, X_s)`` to updated ``(X_o', X_s')`` (the
released ``Add_GPT`` residual included); a fusion maps ``(X_o, X_s)`` to
one map. Both are built from configs with ``channels`` filled in per level.
The stream layers are the same modules as in
:class:`~mmosar.models.backbones.TwoStreamBackbone` (built by
:func:`build_yolo11_stages`), so the weights of a stream have the same
names in both backbones.
"""
import copy
from typing import Dict, Optional, Sequence, Tuple

from torch import Tensor, nn

from mmosar.registry import MODELS

from ..layers.yolo_blocks import SPPF, YOLOInitModule
from .two_stream import split_modalities
from .yolo11_csp import build_c2psa, build_yolo11_stages, yolo11_channels

LEVELS = ('p2', 'p3', 'p4', 'p5')
FUSED_LEVELS = ('p3', 'p4', 'p5')
#: level -> (stage index, slice of that stage's layers) ending at the level
LEVEL_LAYERS = dict(
    p2=(0, slice(0, 3)), p3=(0, slice(3, None)), p4=(1, slice(None)),
    p5=(2, slice(None)))
C2PSA_PLACES = ('fused', 'stream', None)


def _level_cfgs(cfg: Optional[dict], levels: Sequence[str],
                overrides: Optional[Dict[str, dict]],
                channels: Dict[str, int], what: str) -> Dict[str, dict]:
    """One config per level: ``cfg`` updated by ``overrides[level]`` and
    ``channels``."""
    overrides = dict(overrides or {})
    unknown = set(levels) - set(LEVELS) | set(overrides) - set(levels)
    if unknown:
        raise ValueError(f'{what}: unknown or unused levels {sorted(unknown)}'
                         f' (levels {tuple(levels)}, overrides for '
                         f'{sorted(overrides)}; choose from {LEVELS})')
    if cfg is None:
        if levels:
            raise ValueError(f'{what}: levels {tuple(levels)} given '
                             'without a module config')
        return {}
    out = {}
    for level in levels:
        level_cfg = copy.deepcopy(dict(cfg))
        level_cfg.update(copy.deepcopy(overrides.get(level, {})))
        level_cfg['channels'] = channels[level]
        out[level] = level_cfg
    return out


@MODELS.register_module()
class TwoStreamFusionBackbone(YOLOInitModule):
    """Two YOLO11 streams with interactions and fusions (see module doc).

    Args:
        arch (str): YOLO11 scale ``'n' | 's' | 'm' | 'l' | 'x'``.
        modality_channels (dict): channels per modality in stacking order,
            exactly two entries, optical first.
        interaction (dict, optional): config of the interaction module,
            built at every level of ``interaction_levels``.
        interaction_levels (Sequence[str]): among ``'p2'``-``'p5'``.
        interaction_overrides (dict, optional): level -> config keys that
            replace those of ``interaction`` at that level.
        fusion (dict): config of the fusion at P3, P4 and P5
            (``AddFusion`` = the released ``Conadd``).
        fusion_overrides (dict, optional): level -> config keys for that
            level's fusion.
        sppf_after_fusion (bool): SPPF on the fused P5 instead of at the end
            of each stream (CSSA).
        c2psa (str, optional): ``'fused'`` (C2PSA on the fused P5),
            ``'stream'`` (one C2PSA per stream before fusion, ICAFusion) or
            ``None``.
        deepen_factor, widen_factor (float, optional): override the scale.
        norm_cfg, act_cfg (dict, optional): YOLO BN / SiLU by default.
        init_cfg (dict, optional): mmengine init config.

    Shapes:
        ``(B, sum(modality_channels), H, W)`` -> fused P3
        ``(B, c3, H/8, W/8)``, P4 ``(B, c4, H/16, W/16)``, P5
        ``(B, c5, H/32, W/32)``; ``(256, 256, 512)`` channels at scale s.
    """

    def __init__(self,
                 arch: str = 's',
                 modality_channels: Optional[Dict[str, int]] = None,
                 interaction: Optional[dict] = None,
                 interaction_levels: Sequence[str] = (),
                 interaction_overrides: Optional[Dict[str, dict]] = None,
                 fusion: Optional[dict] = None,
                 fusion_overrides: Optional[Dict[str, dict]] = None,
                 sppf_after_fusion: bool = False,
                 c2psa: Optional[str] = 'fused',
                 deepen_factor: Optional[float] = None,
                 widen_factor: Optional[float] = None,
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        modality_channels = dict(modality_channels or dict(optical=3, sar=1))
        if len(modality_channels) != 2:
            raise ValueError('TwoStreamFusionBackbone needs exactly two '
                             'modalities in modality_channels, got '
                             f'{modality_channels}')
        if c2psa not in C2PSA_PLACES:
            raise ValueError(f'c2psa must be one of {C2PSA_PLACES}, got '
                             f'{c2psa!r}')
        self.modality_channels = modality_channels
        self.modalities = tuple(modality_channels)
        self.sppf_after_fusion = sppf_after_fusion
        self.c2psa_place = c2psa
        scale = (arch, deepen_factor, widen_factor, norm_cfg, act_cfg)
        self.streams = nn.ModuleDict({
            m: build_yolo11_stages(c, *scale,
                                   with_sppf=not sppf_after_fusion)
            for m, c in modality_channels.items()
        })
        ch = yolo11_channels(arch, widen_factor)
        level_channels = dict(
            p2=ch['c2'], p3=ch['p3'], p4=ch['p4'], p5=ch['p5'])
        self.out_channels = tuple(level_channels[lv] for lv in FUSED_LEVELS)
        self.interactions = nn.ModuleDict({
            level: MODELS.build(cfg)
            for level, cfg in _level_cfgs(
                interaction, interaction_levels, interaction_overrides,
                level_channels, 'interaction').items()
        })
        self.fusions = nn.ModuleDict({
            level: MODELS.build(cfg)
            for level, cfg in _level_cfgs(
                fusion or dict(type='AddFusion'), FUSED_LEVELS,
                fusion_overrides, level_channels, 'fusion').items()
        })
        if sppf_after_fusion:
            self.sppf = SPPF(ch['p5'], ch['p5'], 5, norm_cfg=norm_cfg,
                             act_cfg=act_cfg)
        if c2psa == 'fused':
            self.c2psa = build_c2psa(*scale)
        elif c2psa == 'stream':
            self.stream_c2psa = nn.ModuleDict(
                {m: build_c2psa(*scale)
                 for m in self.modalities})

    def split_modalities(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``(B, sum C_m, H, W)`` -> (optical, SAR) images."""
        return split_modalities(x, self.modality_channels, type(self).__name__)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        feats = dict(zip(self.modalities, self.split_modalities(x)))
        first, second = self.modalities
        fused = []
        for level in LEVELS:
            stage, layers = LEVEL_LAYERS[level]
            feats = {
                m: self.streams[m][stage][layers](f)
                for m, f in feats.items()
            }
            if level == 'p5' and self.c2psa_place == 'stream':
                feats = {m: self.stream_c2psa[m](f) for m, f in feats.items()}
            if level in self.interactions:
                updated = self.interactions[level](feats[first],
                                                   feats[second])
                feats = dict(zip(self.modalities, updated))
            if level in self.fusions:
                fused.append(self.fusions[level](feats[first],
                                                 feats[second]))
        if self.sppf_after_fusion:
            fused[2] = self.sppf(fused[2])
        if self.c2psa_place == 'fused':
            fused[2] = self.c2psa(fused[2])
        return tuple(fused)
