"""Equivalence check of the six M4-SAR benchmark baselines.

Fixtures ``m4sar/baselines/<model>`` (``CFT``, ``CALNet``, ``CSSA``,
``CMADet``, ``ICAFusion``, ``MMIDet``) hold what the released Ultralytics
fork computed in eval mode, float64, on recipe weights and the E2E-OSDet
fixture's input. The check:

1. builds the detector of ``configs/m4sar_benchmark/<model>_yolo11s-obb_300e_
   m4sar.py`` and compares its parameter count with the released graph's
   (trainable parameters minus those the released forward never uses);
2. converts the recipe weights with
   :func:`~mmosar.utils.converters.m4sar_baselines.convert_m4sar_baseline`
   and loads them strictly, then ``double()`` and ``eval()``;
3. runs the input and compares the fusion outputs at P3/P4/P5 (the stored
   channels, and per-channel mean / RMS of the full maps) and the decoded
   predictions before NMS with ``eval_const/pred`` (mmosar's DFL projection
   is the constant 0..15, a fixed buffer, not a weight).
"""
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from . import EquivalenceReport, Fixture

#: fixture model name -> config file stem under configs/m4sar_benchmark
CONFIG_STEMS: Dict[str, str] = dict(
    CFT='cft', CALNet='calnet', CSSA='cssa', CMADet='cmadet',
    ICAFusion='icafusion', MMIDet='mmidet')
LEVELS = ('p3', 'p4', 'p5')


def config_path(model: str, scale: str = 'yolo11s-obb_300e') -> Path:
    """``configs/m4sar_benchmark/<stem>_<scale>_m4sar.py`` of ``model``."""
    if model not in CONFIG_STEMS:
        raise KeyError(f'unknown M4-SAR baseline {model!r}; choose from '
                       f'{sorted(CONFIG_STEMS)}')
    root = Path(__file__).resolve().parents[3] / 'configs' / 'm4sar_benchmark'
    return root / f'{CONFIG_STEMS[model]}_{scale}_m4sar.py'


def build_baseline(model: str) -> torch.nn.Module:
    """The mmosar detector of baseline ``model`` at scale s (fresh init)."""
    from mmengine.config import Config

    from mmosar.registry import MODELS
    from mmosar.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    return MODELS.build(Config.fromfile(str(config_path(model))).model)


def decoded_predictions(detector: torch.nn.Module,
                        inputs: torch.Tensor) -> torch.Tensor:
    """Decoded head output before NMS in the released layout.

    Returns:
        Tensor: ``(B, 4 + num_classes + 1, A)``: ``cx, cy, w, h`` (pixels),
        the class sigmoid scores, the angle (radians); anchors P3, P4, P5,
        row-major.
    """
    head = detector.bbox_head
    feats = detector.extract_feat(inputs)
    cls_scores, bbox_dists, angle_preds = head(feats)

    def flat(maps: List[torch.Tensor]) -> torch.Tensor:
        return torch.cat([m.flatten(2) for m in maps], dim=2).transpose(1, 2)

    points, strides = head._priors(cls_scores)
    boxes = head.decode(points.to(inputs.dtype), strides.to(inputs.dtype),
                        flat(bbox_dists), flat(angle_preds))
    scores = flat(cls_scores).sigmoid()
    return torch.cat([boxes[..., :4], scores, boxes[..., 4:]],
                     dim=-1).transpose(1, 2)


def check(fixture: Fixture, report: EquivalenceReport) -> None:
    model_name = fixture.name.rstrip('/').split('/')[-1]
    from mmosar.utils.checkpoint import load_state_dict_strict
    from mmosar.utils.converters.m4sar_baselines import convert_m4sar_baseline

    detector = build_baseline(model_name)
    manifest = fixture.manifest
    released = manifest['trainable_params'] - manifest[
        'unused_in_forward_numel']
    report.compare(
        'param_count (released trainable - unused)',
        np.array(sum(p.numel() for p in detector.parameters())),
        np.array(released))

    # recipe weights: the DFL projection is random, not the released 0..15
    weights = convert_m4sar_baseline(
        fixture.released_state_dict(), model_name,
        source=str(fixture.root / 'manifest.json'),
        check_constants=False).state_dict
    load_state_dict_strict(detector, weights,
                           source=str(fixture.root / 'manifest.json'))
    detector.double().eval()

    # the input is stored once, in the E2E-OSDet fixture
    inputs = torch.from_numpy(
        np.asarray(Fixture.load('m4sar', fixture.root.parents[2])['input']))
    fused = {}
    hooks = [
        detector.backbone.fusions[level].register_forward_hook(
            lambda module, args, out, level=level: fused.__setitem__(
                level, out)) for level in LEVELS
    ]
    try:
        with torch.no_grad():
            pred = decoded_predictions(detector, inputs)
    finally:
        for hook in hooks:
            hook.remove()

    report.compare('eval_const/pred', pred, fixture['eval_const/pred'])
    for level in LEVELS:
        key = f'eval/fused_{level}'
        full = fused[level]
        channels = torch.from_numpy(fixture[f'{key}.channels'])
        report.compare(key, full[:, channels], fixture[key],
                       note='fixture stored as float32')
        report.compare(f'{key}.mean', full.mean(dim=(2, 3)),
                       fixture[f'{key}.mean'])
        report.compare(f'{key}.rms', full.square().mean(dim=(2, 3)).sqrt(),
                       fixture[f'{key}.rms'])
