"""E2E-OSDet (M4-SAR) against the released Ultralytics 8.3.8 fork.

Fixture ``m4sar`` (see its README): released-name recipe weights, a
``(2, 6, 256, 256)`` float64 input, every intermediate map of the eval
forward, the decoded predictions (also with a float64 scan and with the
released constants), a standalone FAM run, and in training mode the loss
items, the backpropagated scalar and gradients.

The check builds the paper recipe (``configs/e2e_osdet/
e2e-osdet_yolo11s-obb_300e_m4sar.py``, which is the released mode),
converts the weights with :func:`mmosar.utils.converters.convert_e2e_osdet`,
loads them strictly, switches to float64 and compares:

* ``convert/*``: dropped entries are exactly the manifest's
  ``unused_in_forward``; every optimizer parameter is in the released
  weight-decay group (Ultralytics: biases and norm weights without decay);
* ``fam_test/*``: FAM with the released masks on the blocky input;
* ``eval/*``: FAM edges (uint8, exact) and outputs, the streams after
  CMIM, the CMIM updates, AFM, C2PSA, neck, raw head outputs and the
  decoded predictions, with the fixture's random FAM masks / DFL weights
  (set with :func:`set_constants`);
* ``eval_scan64/pred``: the CMIM scan in float64 (``scan_dtype=None``);
* ``eval_const/*``: the released constants (what the converter checks in a
  real checkpoint);
* ``loss_only/*``: the head's loss fed the stored training outputs;
* ``train/*``: training-mode head outputs, loss items, backpropagated
  scalar (the recipe's ``scale_loss_by_batch``), named gradients, gradient
  norm and clip coefficient, and ``train/sgd_step/*``: one step of the
  recipe's optimizer (SGD, clipping at 10) against the released update
  computed from the fixture's gradients.

:func:`check` runs every part; :func:`check_fast` (used by the default
test run) the ones that need no forward pass of the network.
"""
import copy
import math
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from . import EquivalenceReport, Fixture

RECIPE_CONFIG = ('configs/e2e_osdet/e2e-osdet_yolo11s-obb_300e_m4sar.py')
#: Released layer index of the FAM of each modality.
FAM_LAYERS = {'optical': 1, 'sar': 2}
HEAD_LAYER = 48
LEVELS = ('p3', 'p4', 'p5')
#: Named gradients of the fixture.
GRAD_NAMES = ('model.48.cv3.0.2.weight', 'model.48.cv3.0.2.bias',
              'model.3.conv.weight', 'model.8.conv.weight')


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def build_recipe_model(
        config: str = RECIPE_CONFIG) -> Tuple[nn.Module, object]:
    """The E2E-OSDet detector of the paper recipe and its config."""
    from mmengine.config import Config

    from mmosar.registry import MODELS
    from mmosar.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(str(repo_root() / config))
    return MODELS.build(cfg.model), cfg


def load_released(model: nn.Module, fixture: Fixture):
    """Convert the fixture's released-name weights and load them strictly.

    Returns:
        Conversion: with the fixture's (random) constants.
    """
    from mmosar.utils.checkpoint import load_state_dict_strict
    from mmosar.utils.converters import convert_e2e_osdet
    conversion = convert_e2e_osdet(
        fixture.released_state_dict(),
        check_constants=False,
        source=f'{fixture.root}/manifest.json')
    load_state_dict_strict(
        model, conversion.state_dict, source=f'{fixture.root} (converted)')
    return conversion


def set_constants(model: nn.Module, constants: Dict[str, Tensor]) -> None:
    """Put released constant entries (FAM masks ``model.{1,2}.grad.*``, DFL
    projection ``model.48.dfl.conv.weight``; any subset) into the model's
    non-persistent buffers. Used to run fixture weights whose constants are
    random; a converted real checkpoint holds the released values, which the
    modules build themselves."""
    from mmosar.utils.converters.m4sar import FAM_MASKS
    backbone, head = model.backbone, model.bbox_head
    with torch.no_grad():
        for modality, layer in FAM_LAYERS.items():
            names = [f'model.{layer}.grad.{n}' for n in FAM_MASKS]
            if names[0] in constants:
                fam = backbone.fams[modality]
                masks = torch.cat([constants[n] for n in names])
                fam.masks.copy_(masks.to(fam.masks))
        dfl = constants.get(f'model.{HEAD_LAYER}.dfl.conv.weight')
        if dfl is not None:
            head.dfl_bins.copy_(dfl.reshape(-1).to(head.dfl_bins))


def released_constant_values() -> Dict[str, Tensor]:
    """The released constants under their released names."""
    from mmosar.utils.converters.m4sar import released_constants
    values = released_constants()
    out = {}
    for layer in FAM_LAYERS.values():
        out.update({
            f'model.{layer}.{k}': v
            for k, v in values.items() if k.startswith('grad.')
        })
    out[f'model.{HEAD_LAYER}.dfl.conv.weight'] = values['dfl.conv.weight']
    return out


def training_constants(conversion) -> Dict[str, Tensor]:
    """Constants as the released training loss sees them: the fixture's FAM
    masks, but the loss decodes boxes with its own ``0..15`` projection
    (``v8DetectionLoss.proj``), not the DFL layer's weight."""
    constants = dict(conversion.constants)
    key = f'model.{HEAD_LAYER}.dfl.conv.weight'
    constants[key] = released_constant_values()[key]
    return constants


# ----------------------------------------------------------------- capture
class Capture:
    """Forward hooks on the modules that correspond to released layers."""

    def __init__(self, model: nn.Module) -> None:
        self.maps: Dict[str, Tensor] = {}
        self.handles = []
        backbone = model.backbone
        for n, level in enumerate(LEVELS):
            self._hook(backbone.cmims[n], f'cmim_{level}')
            self._hook(backbone.fusions[n], f'afm_{level}')
        for modality in FAM_LAYERS:
            self._hook(backbone.fams[modality], f'fam_{modality}')
        self._hook(backbone.c2psa, 'c2psa')
        self._hook(model.neck, 'neck')

    def _hook(self, module: nn.Module, name: str) -> None:

        def hook(mod, inputs, output):
            self.maps[name] = output
            self.maps[name + '/inputs'] = inputs

        self.handles.append(module.register_forward_hook(hook))

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def run_forward(model: nn.Module,
                x: Tensor) -> Tuple[Dict[str, Tensor], tuple]:
    """Captured maps and the raw head outputs (cls, box, angle per level)."""
    capture = Capture(model)
    try:
        outs = model.bbox_head(model.extract_feat(x))
    finally:
        capture.remove()
    return capture.maps, outs


def released_pred(head: nn.Module, outs) -> Tensor:
    """The released eval output ``(B, 4 + C + 1, A)``."""
    scores, boxes = head.decode_predictions(*outs)
    return torch.cat([boxes[..., :4], scores, boxes[..., 4:]],
                     -1).transpose(1, 2)


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def compare_map(report: EquivalenceReport, fixture: Fixture, key: str,
                value: Tensor, crop: bool = False) -> None:
    """Compare a map with its stored channels / crop and its statistics."""
    v = _np(value)
    if key in fixture:
        stored = fixture[key]
        if f'{key}.channels' in fixture:
            part = v[:, fixture[f'{key}.channels']]
        elif crop:
            part = v[..., :stored.shape[-2], :stored.shape[-1]]
        else:
            part = v
        report.compare(key, part, stored)
    if f'{key}.mean' in fixture:
        report.compare(f'{key}.mean', v.mean(axis=(2, 3)),
                       fixture[f'{key}.mean'])
        report.compare(f'{key}.rms', np.sqrt((v**2).mean(axis=(2, 3))),
                       fixture[f'{key}.rms'])


# ------------------------------------------------------------------ parts
def check_conversion(fixture: Fixture, report: EquivalenceReport,
                     conversion, model: nn.Module, cfg) -> None:
    """Dropped entries and the optimizer's weight-decay groups."""
    unused = sorted(fixture.manifest['unused_in_forward'])
    report.compare('convert/dropped_is_unused_in_forward',
                   np.array([sorted(conversion.dropped) == unused]),
                   np.array([True]))
    # released groups (Ultralytics build_optimizer): "bias" in the name or
    # a parameter of a norm layer (BatchNorm / LayerNorm): no decay
    from mmosar.utils.converters.m4sar import E2E_OSDET_TABLE, mmosar_name
    released_decay, ours_decay = [], []
    decay_of = optimizer_decay_by_name(model, cfg)
    trainable = [
        n for n in fixture.manifest['state_dict']
        if n not in unused and n not in conversion.constants
        and not n.split('.')[-1].startswith(('running_', 'num_batches'))
    ]
    for name in trainable:
        module = name.rsplit('.', 1)[0].split('.')[-1]
        is_norm = module == 'bn' or 'norm' in module
        released_decay.append(not ('bias' in name or is_norm))
        ours_decay.append(decay_of[mmosar_name(name, E2E_OSDET_TABLE)])
    report.compare('convert/weight_decay_groups', np.array(ours_decay),
                   np.array(released_decay))


def optimizer_decay_by_name(model: nn.Module, cfg) -> Dict[str, bool]:
    """Whether the recipe's optimizer decays each parameter."""
    optim_wrapper = build_recipe_optim_wrapper(model, cfg)
    decay = {}
    for group in optim_wrapper.optimizer.param_groups:
        for param in group['params']:
            decay[id(param)] = group['weight_decay'] > 0
    return {n: decay[id(p)] for n, p in model.named_parameters()}


def build_recipe_optim_wrapper(model: nn.Module, cfg):
    """The recipe's optimizer wrapper (AMP left out: CPU, float64)."""
    from mmengine.optim import build_optim_wrapper
    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    wrapper_cfg['type'] = 'OptimWrapper'
    wrapper_cfg.pop('loss_scale', None)
    return build_optim_wrapper(model, wrapper_cfg)


def check_fam_test(fixture: Fixture, report: EquivalenceReport,
                   model: nn.Module) -> None:
    """FAM of both modalities, released masks, on the blocky input."""
    from mmosar.models.layers.fam import (
        half_window_masks,
        ratio_edge_magnitude,
    )
    x = torch.from_numpy(fixture['fam_test/input'])
    masks = half_window_masks(5).double()
    fams = copy.deepcopy(model.backbone.fams).double()
    for fam in fams.values():
        fam.masks.copy_(masks)
    optical, sar = x[:, :3], x[:, 3:]
    report.compare('fam_test/fam_optical_edge',
                   ratio_edge_magnitude(optical, masks).to(torch.uint8),
                   fixture['fam_test/fam_optical_edge'])
    report.compare('fam_test/fam_sar_edge',
                   ratio_edge_magnitude(sar[:, 2:3], masks).to(torch.uint8),
                   fixture['fam_test/fam_sar_edge'])
    report.compare('fam_test/fam_optical', fams['optical'](optical),
                   fixture['fam_test/fam_optical'])
    report.compare('fam_test/fam_sar', fams['sar'](sar),
                   fixture['fam_test/fam_sar'])


def check_eval(fixture: Fixture, report: EquivalenceReport, model: nn.Module,
               prefix: str = 'eval') -> None:
    """One eval forward: edges, maps, head outputs, predictions."""
    from mmosar.models.layers.fam import ratio_edge_magnitude
    x = torch.from_numpy(fixture['input'])
    model.eval()
    with torch.no_grad():
        maps, outs = run_forward(model, x)
    fams = model.backbone.fams
    edges = {
        'optical': ratio_edge_magnitude(x[:, :3], fams['optical'].masks),
        'sar': ratio_edge_magnitude(x[:, 5:6], fams['sar'].masks)
    }
    for modality in FAM_LAYERS:
        key = f'{prefix}/fam_{modality}_edge'
        if key in fixture:
            report.compare(key, edges[modality].to(torch.uint8), fixture[key])
    report.compare(f'{prefix}/pred', released_pred(model.bbox_head, outs),
                   fixture[f'{prefix}/pred'])
    if prefix != 'eval':
        return
    for modality in FAM_LAYERS:
        compare_map(report, fixture, f'eval/fam_{modality}',
                    maps[f'fam_{modality}'], crop=True)
    for n, level in enumerate(LEVELS):
        out_opt, out_sar = maps[f'cmim_{level}']
        in_opt, in_sar = maps[f'cmim_{level}/inputs']
        compare_map(report, fixture, f'eval/{level}_optical_after_cmim',
                    out_opt)
        compare_map(report, fixture, f'eval/{level}_sar_after_cmim', out_sar)
        compare_map(report, fixture, f'eval/cmim_{level}_optical',
                    out_opt - in_opt)
        compare_map(report, fixture, f'eval/cmim_{level}_sar',
                    out_sar - in_sar)
        compare_map(report, fixture, f'eval/afm_{level}', maps[f'afm_{level}'])
        compare_map(report, fixture, f'eval/neck_{level}', maps['neck'][n])
    compare_map(report, fixture, 'eval/c2psa', maps['c2psa'])
    cls_scores, bbox_dists, angle_preds = outs
    for n, level in enumerate(LEVELS):
        compare_map(report, fixture, f'eval/head_{level}_box', bbox_dists[n],
                    crop=True)
        compare_map(report, fixture, f'eval/head_{level}_cls', cls_scores[n])
        compare_map(report, fixture, f'eval/head_{level}_angle',
                    angle_preds[n])


def fixture_gt_instances(fixture: Fixture, size: int = 256) -> List:
    """``train/targets`` as per-image ground truths in input pixels."""
    from mmengine.structures import InstanceData

    from mmosar.structures.bbox import RotatedBoxes
    targets = torch.from_numpy(fixture['train/targets']).float()
    batch = fixture['input'].shape[0]
    out = []
    for i in range(batch):
        rows = targets[targets[:, 0] == i]
        boxes = torch.cat([rows[:, 2:6] * size, rows[:, 6:7]], dim=1)
        out.append(
            InstanceData(
                bboxes=RotatedBoxes(boxes), labels=rows[:, 1].long()))
    return out


def compare_losses(report: EquivalenceReport, fixture: Fixture, prefix: str,
                   losses: Dict[str, Tensor], batch: int) -> Tensor:
    """Loss items ``[box, cls, dfl]`` and the backpropagated scalar."""
    total = sum(losses.values())
    items = torch.stack([
        losses['loss_bbox'], losses['loss_cls'], losses['loss_dfl']
    ]) / batch
    report.compare(f'{prefix}/loss_items', items, fixture['train/loss_items'])
    report.compare(f'{prefix}/loss_backward', total,
                   fixture['train/loss_backward'])
    return total


def check_loss_only(fixture: Fixture, report: EquivalenceReport,
                    model: nn.Module) -> None:
    """The head's loss on the stored training-mode head outputs."""
    head = model.bbox_head
    cls_scores = [
        torch.from_numpy(fixture[f'train/head_{lv}_cls']) for lv in LEVELS
    ]
    bbox_dists = [
        torch.from_numpy(fixture[f'train/head_{lv}_box_masked'])
        for lv in LEVELS
    ]
    angles = [
        torch.from_numpy(fixture[f'train/head_{lv}_angle']) for lv in LEVELS
    ]
    losses = head.loss_by_feat(cls_scores, bbox_dists, angles,
                               fixture_gt_instances(fixture),
                               [{}] * len(cls_scores[0]))
    compare_losses(report, fixture, 'loss_only', losses, len(cls_scores[0]))


def check_train(fixture: Fixture, report: EquivalenceReport,
                model: nn.Module, cfg) -> None:
    """Training-mode outputs, loss, gradients and one optimizer step."""
    x = torch.from_numpy(fixture['input'])
    head = model.bbox_head
    model.train()
    model.zero_grad()
    maps, outs = run_forward(model, x)
    cls_scores, bbox_dists, angle_preds = outs
    for n, level in enumerate(LEVELS):
        support = torch.from_numpy(fixture[f'train/head_{level}_box_support'])
        report.compare(f'train/head_{level}_box_masked',
                       bbox_dists[n] * support[:, None],
                       fixture[f'train/head_{level}_box_masked'])
        compare_map(report, fixture, f'train/head_{level}_box', bbox_dists[n])
        compare_map(report, fixture, f'train/head_{level}_cls', cls_scores[n])
        compare_map(report, fixture, f'train/head_{level}_angle',
                    angle_preds[n])
        compare_map(report, fixture, f'train/afm_{level}',
                    maps[f'afm_{level}'])
        compare_map(report, fixture, f'train/neck_{level}', maps['neck'][n])
    angle = torch.cat([a.flatten(2) for a in angle_preds], dim=2)
    report.compare('train/pred_angle',
                   (angle.sigmoid() - 0.25) * math.pi,
                   fixture['train/pred_angle'])
    losses = head.loss_by_feat(cls_scores, bbox_dists, angle_preds,
                               fixture_gt_instances(fixture),
                               [{}] * x.shape[0])
    total = compare_losses(report, fixture, 'train', losses, x.shape[0])
    total.backward()

    names = released_to_mmosar(GRAD_NAMES)
    params = dict(model.named_parameters())
    for released, ours in names.items():
        report.compare(f'train/grad/{released}', params[ours].grad,
                       fixture[f'train/grad/{released}'])
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norm = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    report.compare('train/grad_total_norm', norm,
                   fixture['train/grad_total_norm'])

    # one step of the recipe's optimizer at its base lr (no scheduler):
    # clipping (recorded) then SGD
    before = {r: params[o].detach().clone() for r, o in names.items()}
    wrapper = build_recipe_optim_wrapper(model, cfg)
    recorded = {}
    clip_func = wrapper.clip_func

    def recording_clip(*args, **kwargs):
        recorded['norm'] = clip_func(*args, **kwargs)
        return recorded['norm']

    wrapper.clip_func = recording_clip
    wrapper.step()
    max_norm = wrapper.clip_grad_kwargs['max_norm']
    report.compare('train/grad_total_norm_torch', recorded['norm'],
                   fixture['train/grad_total_norm_torch'])
    report.compare('train/clip_coef',
                   min(1.0, max_norm / (float(recorded['norm']) + 1e-6)),
                   fixture['train/clip_coef'])
    lr = cfg.optim_wrapper['optimizer']['lr']
    momentum = cfg.optim_wrapper['optimizer']['momentum']
    weight_decay = cfg.optim_wrapper['optimizer']['weight_decay']
    clip = fixture['train/clip_coef']
    for released, ours in names.items():
        # released step (torch SGD, Nesterov, first step, Ultralytics
        # groups): d = c g + wd w; w' = w - lr (1 + momentum) d
        w = _np(before[released])
        wd = 0.0 if released.endswith('bias') else weight_decay
        d = clip * fixture[f'train/grad/{released}'] + wd * w
        report.compare(f'train/sgd_step/{released}',
                       params[ours].detach() - before[released],
                       -lr * (1 + momentum) * d)


def released_to_mmosar(names: Sequence[str]) -> Dict[str, str]:
    """mmosar names of released entries."""
    from mmosar.utils.converters.m4sar import E2E_OSDET_TABLE, mmosar_name
    return {n: mmosar_name(n, E2E_OSDET_TABLE) for n in names}


def prepare(fixture: Fixture):
    """Recipe model with the fixture's weights, float64, and its config."""
    model, cfg = build_recipe_model()
    conversion = load_released(model, fixture)
    model = model.double()
    set_constants(model, conversion.constants)
    for cmim in model.backbone.cmims:
        # the fixture's scan: the sequential recurrence (float32 rounding of
        # the chunked scan differs by up to 1.6e-6 on stem gradients)
        cmim.scan_backend = 'reference'
    return model, cfg, conversion


def check_fast(fixture: Fixture, report: EquivalenceReport) -> None:
    """Conversion, optimizer groups, FAM and the loss (seconds)."""
    model, cfg, conversion = prepare(fixture)
    check_conversion(fixture, report, conversion, model, cfg)
    check_fam_test(fixture, report, model)
    set_constants(model, training_constants(conversion))
    check_loss_only(fixture, report, model)


def check(fixture: Fixture, report: EquivalenceReport) -> None:
    """Every array of the fixture (minutes on a 2-core CPU)."""
    check_fast(fixture, report)
    model, cfg, conversion = prepare(fixture)
    check_eval(fixture, report, model)
    cmims = model.backbone.cmims
    dtypes = [c.scan_dtype for c in cmims]
    for c in cmims:
        c.scan_dtype = None
    check_eval(fixture, report, model, 'eval_scan64')
    for c, dtype in zip(cmims, dtypes):
        c.scan_dtype = dtype
    set_constants(model, released_constant_values())
    check_eval(fixture, report, model, 'eval_const')
    set_constants(model, training_constants(conversion))
    check_train(fixture, report, model, cfg)
