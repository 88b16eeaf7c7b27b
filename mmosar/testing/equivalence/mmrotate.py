"""Equivalence checks of mmosar's rotated detectors against mmrotate 1.x.

Fixture ``mmrotate/<config>`` holds what mmrotate dev-1.x computed for its
config ``<config>`` with deterministic weights: every state-dict entry under
mmrotate's names (``manifest.json``) and, on one 256 x 256 input, the neck
maps, the head maps and the final detections (float64, with the float32
casts that mmdet / mmcv force; see the fixture READMEs).

mmosar's config of the same file name (``configs/<algorithm>/<config>.py``)
is built, the released weights are loaded **strictly under mmrotate's
names** (no converter: the names are the same), the model runs in float64
on the stored input and every stored array is compared. Final detections
are compared as sets (near-tied scores may swap order): each fixture
detection is matched to the mmosar detection with the same label and the
nearest box, both sets must have the same size and every match must agree.

Tolerance: 1e-5 relative (the fixtures carry float32 rounding from mmcv's
float32-only kernels and from the heads' own float32 casts).
"""
import contextlib
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmosar.testing.equivalence import EquivalenceReport, Fixture
from mmosar.utils.checkpoint import load_state_dict_strict

#: relative tolerance of every mmrotate comparison
MMROTATE_RTOL = 1e-5

REPO = Path(__file__).resolve().parents[3]

#: fixture config name -> mmosar config folder
CONFIG_DIRS: Dict[str, str] = {
    'rotated-fcos-le90_r50_fpn_1x_dota': 'rotated_fcos',
    'rotated-atss-le90_r50_fpn_1x_dota': 'rotated_atss',
    'oriented-rcnn-le90_r50_fpn_1x_dota': 'oriented_rcnn',
    'rotated_rtmdet_tiny-3x-dota': 'rotated_rtmdet',
    'roi-trans-le90_r50_fpn_1x_dota': 'roi_trans',
    'r3det-oc_r50_fpn_1x_dota': 'r3det',
    's2anet-le90_r50_fpn_1x_dota': 's2anet',
}


def config_path(config: str) -> Path:
    """mmosar's config file carrying mmrotate's config name."""
    if config not in CONFIG_DIRS:
        raise KeyError(f'no mmosar config for mmrotate fixture {config!r}; '
                       f'known: {sorted(CONFIG_DIRS)}')
    return REPO / 'configs' / CONFIG_DIRS[config] / f'{config}.py'


def build_released_model(fixture: Fixture,
                         **model_overrides) -> torch.nn.Module:
    """mmosar's model for the fixture's config with mmrotate's weights.

    Pretrained ``init_cfg`` entries named by the manifest are removed, the
    recipe's weights are loaded strictly (every entry, mmrotate's names),
    entries the manifest lists as constant buffers keep their constructed
    values, and the model is returned in float64, eval mode.
    """
    from mmosar.registry import MODELS
    from mmosar.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    init_default_scope('mmosar')
    config = fixture.name.split('/', 1)[1]
    cfg = Config.fromfile(str(config_path(config)))
    cfg.merge_from_dict({f'model.{k}': v for k, v in model_overrides.items()})
    model_cfg = cfg.model
    for dotted in fixture.manifest.get('removed_init_cfg', []):
        parts = dotted.split('.')
        if parts[0] != 'model':
            raise ValueError(f'{fixture.root}/manifest.json: removed_init_cfg '
                             f'entry {dotted!r} is not under model')
        node = model_cfg
        for part in parts[1:-1]:
            node = node[part]
        node[parts[-1]] = None
    model = MODELS.build(model_cfg)
    state_dict = fixture.released_state_dict()
    constants = fixture.manifest.get('constant_buffers', {})
    for name in constants:
        state_dict.pop(name, None)
    load_state_dict_strict(
        model,
        state_dict,
        source=f'{fixture.root}/manifest.json',
        allowed_missing=list(constants))
    return model.double().eval()


def eval_metainfo(size: Sequence[int]) -> dict:
    """Image metas of the fixtures' eval input (no resize, no padding)."""
    size = tuple(int(s) for s in size)
    return dict(
        img_shape=size,
        ori_shape=size,
        pad_shape=size,
        batch_input_shape=size,
        scale_factor=(1.0, 1.0))


def capture_outputs(module: torch.nn.Module,
                    store: List) -> torch.utils.hooks.RemovableHandle:
    """Record each output of ``module`` into ``store`` (forward hook)."""

    def hook(_module, _args, output):
        store.append(output)

    return module.register_forward_hook(hook)


def compare_levels(report: EquivalenceReport, fixture: Fixture, prefix: str,
                   maps: Sequence[torch.Tensor]) -> None:
    """Compare per-level maps with ``eval/<prefix>_p{i}``."""
    for level, value in enumerate(maps):
        key = f'eval/{prefix}_p{level}'
        report.compare(key, value, fixture[key], rtol=MMROTATE_RTOL)


def compare_neck(report: EquivalenceReport, fixture: Fixture,
                 feats: Sequence[torch.Tensor]) -> None:
    """Neck maps: as stored (all channels, or channels [0:32] plus the
    per-channel sums of all channels)."""
    for level, feat in enumerate(feats):
        key = f'eval/neck_p{level}'
        stored = fixture[key].shape[1]
        report.compare(key, feat[:, :stored], fixture[key],
                       rtol=MMROTATE_RTOL,
                       note='' if stored == feat.shape[1] else
                       f'channels 0:{stored}')
        if f'{key}_chsum' in fixture:
            report.compare(
                f'{key}_chsum',
                feat.sum(dim=(0, 2, 3)),
                fixture[f'{key}_chsum'],
                rtol=MMROTATE_RTOL)


def match_detections(expected_boxes: np.ndarray, expected_labels: np.ndarray,
                     boxes: np.ndarray,
                     labels: np.ndarray) -> Tuple[np.ndarray, int]:
    """For each expected detection, the index of the actual detection with
    the same label and the nearest box (max abs difference), each actual
    detection used once (greedy in expected order).

    Returns:
        tuple: ``(index, unmatched)``: (E,) indices (-1 where nothing is
        left) and how many expected detections found no partner.
    """
    index = np.full(len(expected_boxes), -1, dtype=np.int64)
    for label in np.unique(expected_labels):
        exp_ids = np.nonzero(expected_labels == label)[0]
        act_ids = np.nonzero(labels == label)[0]
        if len(act_ids) == 0:
            continue
        dist = np.abs(expected_boxes[exp_ids, None] -
                      boxes[None, act_ids]).max(-1)
        taken = np.zeros(len(act_ids), dtype=bool)
        for row in np.argsort(dist.min(1), kind='stable'):
            order = np.argsort(dist[row], kind='stable')
            free = order[~taken[order]]
            if len(free):
                taken[free[0]] = True
                index[exp_ids[row]] = act_ids[free[0]]
    return index, int((index < 0).sum())


def tied_scores(scores: np.ndarray, labels: np.ndarray,
                rtol: float) -> np.ndarray:
    """Detections whose score equals (within ``rtol`` relative) that of
    another detection of the same class."""
    tied = np.zeros(len(scores), dtype=bool)
    for label in np.unique(labels):
        ids = np.nonzero(labels == label)[0]
        values = scores[ids]
        close = np.abs(values[:, None] - values[None]) <= rtol * np.abs(
            values[:, None])
        np.fill_diagonal(close, False)
        tied[ids] = close.any(axis=1)
    return tied


def tie_dependent(sets: Sequence[Tuple[np.ndarray, np.ndarray, np.ndarray]],
                  iou_thr: float) -> List[np.ndarray]:
    """Per set of detections ``(boxes, labels, tied)``, those whose NMS
    fate may depend on how exactly tied scores were ordered: the tied ones
    and, repeatedly, every detection overlapping (rotated IoU above the NMS
    threshold) a dependent detection of the same class in any set."""
    from mmosar.structures.bbox import rbbox_overlaps
    dependent = [tied.copy() for _, _, tied in sets]
    changed = True
    while changed:
        changed = False
        for i, (boxes, labels, _) in enumerate(sets):
            for j, (other_boxes, other_labels, _) in enumerate(sets):
                for label in np.unique(labels):
                    ids = np.nonzero((labels == label) & ~dependent[i])[0]
                    sel = (other_labels == label) & dependent[j]
                    if len(ids) == 0 or not sel.any():
                        continue
                    ious = rbbox_overlaps(
                        torch.as_tensor(boxes[ids]),
                        torch.as_tensor(other_boxes[sel])).numpy()
                    hit = ids[(ious > iou_thr).any(axis=1)]
                    if len(hit):
                        dependent[i][hit] = True
                        changed = True
    return dependent


def compare_detections(report: EquivalenceReport,
                       fixture: Fixture,
                       pred: InstanceData,
                       prefix: str = 'eval/pred',
                       tie_rtol: Optional[float] = None,
                       nms_iou: float = 0.1) -> None:
    """Final detections compared as sets (see :func:`match_detections`).

    With ``tie_rtol``, detections whose NMS fate may depend on the order
    of tied scores (:func:`tie_dependent`; e.g. RoIs outside the image pool
    identical features, so their detections tie exactly) may differ: they
    are counted in a note, and every other detection, in either set, must
    have a partner within tolerance.
    """
    bboxes = pred.bboxes
    bboxes = (bboxes.tensor if hasattr(bboxes, 'tensor') else bboxes)
    boxes = bboxes.detach().double().cpu().numpy()
    scores = pred.scores.detach().double().cpu().numpy()
    labels = pred.labels.detach().cpu().numpy()
    exp_boxes = fixture[f'{prefix}_bboxes']
    exp_scores = fixture[f'{prefix}_scores']
    exp_labels = fixture[f'{prefix}_labels']
    index, _ = match_detections(exp_boxes, exp_labels, boxes, labels)
    tol = MMROTATE_RTOL * np.abs(exp_boxes).max()
    found = index >= 0
    found[found] = np.abs(boxes[index[found]] - exp_boxes[found]).max(
        axis=1) <= tol
    partnered = np.zeros(len(boxes), dtype=bool)
    partnered[index[found]] = True
    if tie_rtol is None:
        report.compare(f'{prefix}_count', np.array([len(boxes)]),
                       np.array([len(exp_boxes)]))
        report.compare(f'{prefix}_unmatched', np.array([(~found).sum()]),
                       np.array([0]),
                       note='fixture detections without a partner')
    else:
        exp_tied = tied_scores(exp_scores, exp_labels, tie_rtol)
        own_tied = tied_scores(scores, labels, tie_rtol)
        exp_dep, own_dep = tie_dependent(
            [(exp_boxes, exp_labels, exp_tied), (boxes, labels, own_tied)],
            nms_iou)
        exp_free, own_free = ~exp_dep, ~own_dep
        note = (f'{len(boxes)} vs {len(exp_boxes)} detections, '
                f'{exp_dep.sum()} / {own_dep.sum()} tie-dependent; '
                f'{(~found & ~exp_free).sum()} fixture / '
                f'{(~partnered & ~own_free).sum()} own unmatched ones '
                'depend on tied scores')
        report.compare(f'{prefix}_unmatched_untied',
                       np.array([(~found & exp_free).sum(),
                                 (~partnered & own_free).sum()]),
                       np.array([0, 0]), note=note)
    report.compare(f'{prefix}_bboxes', boxes[index[found]],
                   exp_boxes[found], rtol=MMROTATE_RTOL,
                   note=f'{found.sum()} matched by label + box')
    report.compare(f'{prefix}_scores', scores[index[found]],
                   exp_scores[found], rtol=MMROTATE_RTOL,
                   note='matched by label + box')
    report.compare(f'{prefix}_labels', labels[index[found]],
                   exp_labels[found])


def _det_data_sample(size: Sequence[int]):
    from mmdet.structures import DetDataSample
    return DetDataSample(metainfo=eval_metainfo(size))


def check_single_stage(fixture: Fixture, report: EquivalenceReport,
                       head_keys: Sequence[str]) -> None:
    """Neck, head maps and detections of a one-stage detector
    (mmdet ``SingleStageDetector``: FCOS, RetinaNet-style)."""
    model = build_released_model(fixture)
    inputs = torch.as_tensor(fixture['eval/input'])
    neck_out, head_out = [], []
    handles = [
        capture_outputs(model.neck, neck_out),
        capture_outputs(model.bbox_head, head_out)
    ]
    try:
        with torch.no_grad():
            results = model.predict(
                inputs, [_det_data_sample(inputs.shape[-2:])], rescale=True)
    finally:
        for handle in handles:
            handle.remove()
    compare_neck(report, fixture, neck_out[0])
    for key, maps in zip(head_keys, head_out[0]):
        compare_levels(report, fixture, key, maps)
    compare_detections(report, fixture, results[0].pred_instances)


def compare_proposals(report: EquivalenceReport, fixture: Fixture,
                      proposals: InstanceData, roi_rois: torch.Tensor,
                      roi_cls: torch.Tensor, roi_reg: torch.Tensor) -> None:
    """RPN proposals as a set, and the RoI head's inputs / outputs of each
    matched proposal (all stored in proposal order)."""
    boxes = proposals.bboxes
    boxes = (boxes.tensor if hasattr(boxes, 'tensor') else boxes)
    boxes = boxes.detach().double().numpy()
    expected = fixture['eval/proposals']
    report.compare('eval/proposals_count', np.array([len(boxes)]),
                   np.array([len(expected)]))
    zeros_e = np.zeros(len(expected), dtype=np.int64)
    index, unmatched = match_detections(expected, zeros_e, boxes,
                                        np.zeros(len(boxes), dtype=np.int64))
    report.compare('eval/proposals_unmatched', np.array([unmatched]),
                   np.array([0]))
    found = index >= 0
    pick = index[found]
    report.compare('eval/proposals', boxes[pick], expected[found],
                   rtol=MMROTATE_RTOL, note='matched by box')
    for key, value in (('eval/proposal_scores', proposals.scores),
                       ('eval/roi_rois', roi_rois), ('eval/roi_cls', roi_cls),
                       ('eval/roi_reg', roi_reg)):
        report.compare(key, value.detach()[torch.as_tensor(pick)],
                       fixture[key][found], rtol=MMROTATE_RTOL,
                       note='in matched proposal order')


def check_two_stage(fixture: Fixture, report: EquivalenceReport) -> None:
    """Neck, RPN maps, proposals, RoI head outputs and detections of a
    two-stage detector (mmdet ``TwoStageDetector``: Oriented R-CNN), and
    its training losses where the fixture has them."""
    model = build_released_model(fixture)
    inputs = torch.as_tensor(fixture['eval/input'])
    neck_out, rpn_out, roi_out, rois, proposals = [], [], [], [], []
    rpn_predict = model.rpn_head.predict

    def record_proposals(*args, **kwargs):
        results = rpn_predict(*args, **kwargs)
        proposals.append(results[0])
        return results

    model.rpn_head.predict = record_proposals
    handles = [
        capture_outputs(model.neck, neck_out),
        capture_outputs(model.rpn_head, rpn_out),
        capture_outputs(model.roi_head.bbox_head, roi_out),
        model.roi_head.bbox_roi_extractor.register_forward_pre_hook(
            lambda _m, args: rois.append(args[1])),
    ]
    try:
        with torch.no_grad():
            results = model.predict(
                inputs, [_det_data_sample(inputs.shape[-2:])], rescale=True)
    finally:
        del model.rpn_head.predict
        for handle in handles:
            handle.remove()
    compare_neck(report, fixture, neck_out[0])
    compare_levels(report, fixture, 'rpn_cls', rpn_out[0][0])
    compare_levels(report, fixture, 'rpn_reg', rpn_out[0][1])
    compare_proposals(report, fixture, proposals[0], rois[0], roi_out[0][0],
                      roi_out[0][1])
    compare_detections(
        report, fixture, results[0].pred_instances, tie_rtol=1e-6)
    if 'train_pseudo/loss/loss_cls' in fixture:
        pseudo = dict(type='mmdet.PseudoSampler')
        model = build_released_model(
            fixture, **{
                'train_cfg.rpn.sampler': pseudo,
                'train_cfg.rcnn.sampler': pseudo
            })
        compare_losses(report, fixture, model, 'train_pseudo/loss')
    if 'train/loss/loss_cls' in fixture:
        compare_losses(report, fixture, build_released_model(fixture),
                       'train/loss', seed=0)


@contextlib.contextmanager
def float32_nms_kernel():
    """Within the context, mmcv's horizontal ``nms`` (as ``batched_nms``
    calls it) runs its kernel on float32 copies of float64 boxes and scores
    (the CPU kernel is float32-only), as the fixtures' own runs did for
    mmdet's RPNHead; the kept indices select the float64 data."""
    module = sys.modules['mmcv.ops.nms']
    original = module.nms

    def nms(boxes, scores, iou_threshold, *args, **kwargs):
        if boxes.dtype != torch.float64:
            return original(boxes, scores, iou_threshold, *args, **kwargs)
        _, keep = original(boxes.float(), scores.float(), iou_threshold,
                           *args, **kwargs)
        return torch.cat([boxes[keep], scores[keep, None]], dim=1), keep

    module.nms = nms
    try:
        yield
    finally:
        module.nms = original


def check_cascade(fixture: Fixture, report: EquivalenceReport) -> None:
    """Neck, RPN maps, horizontal proposals, both stages' RoI inputs and
    outputs, and detections of a two-stage cascade (mmdet
    ``CascadeRCNN``: RoI Transformer)."""
    model = build_released_model(fixture)
    inputs = torch.as_tensor(fixture['eval/input'])
    neck_out, rpn_out, proposals = [], [], []
    stage_out = [[] for _ in model.roi_head.bbox_head]
    stage_rois = [[] for _ in model.roi_head.bbox_head]
    rpn_predict = model.rpn_head.predict

    def record_proposals(*args, **kwargs):
        results = rpn_predict(*args, **kwargs)
        proposals.append(results[0])
        return results

    model.rpn_head.predict = record_proposals
    handles = [
        capture_outputs(model.neck, neck_out),
        capture_outputs(model.rpn_head, rpn_out)
    ]
    for i, (head, extractor) in enumerate(
            zip(model.roi_head.bbox_head, model.roi_head.bbox_roi_extractor)):
        handles.append(capture_outputs(head, stage_out[i]))
        handles.append(
            extractor.register_forward_pre_hook(
                lambda _m, args, store=stage_rois[i]: store.append(args[1])))
    try:
        with torch.no_grad(), float32_nms_kernel():
            results = model.predict(
                inputs, [_det_data_sample(inputs.shape[-2:])], rescale=True)
    finally:
        del model.rpn_head.predict
        for handle in handles:
            handle.remove()
    compare_neck(report, fixture, neck_out[0])
    compare_levels(report, fixture, 'rpn_cls', rpn_out[0][0])
    compare_levels(report, fixture, 'rpn_reg', rpn_out[0][1])
    boxes = proposals[0].bboxes
    boxes = (boxes.tensor if hasattr(boxes, 'tensor') else boxes)
    report.compare('eval/proposals', boxes, fixture['eval/proposals'],
                   rtol=MMROTATE_RTOL)
    report.compare('eval/proposal_scores', proposals[0].scores,
                   fixture['eval/proposal_scores'], rtol=MMROTATE_RTOL)
    for i in range(len(stage_out)):
        report.compare(f'eval/roi_s{i}_rois', stage_rois[i][0],
                       fixture[f'eval/roi_s{i}_rois'], rtol=MMROTATE_RTOL)
        report.compare(f'eval/roi_s{i}_cls', stage_out[i][0][0],
                       fixture[f'eval/roi_s{i}_cls'], rtol=MMROTATE_RTOL)
        report.compare(f'eval/roi_s{i}_reg', stage_out[i][0][1],
                       fixture[f'eval/roi_s{i}_reg'], rtol=MMROTATE_RTOL)
    compare_detections(
        report, fixture, results[0].pred_instances, tie_rtol=1e-6)


def check_refine(fixture: Fixture, report: EquivalenceReport) -> None:
    """Neck, initial head maps and best boxes, refined features, refine
    head maps and detections of a ``RefineSingleStageDetector`` (R3Det,
    S2A-Net)."""
    model = build_released_model(fixture)
    inputs = torch.as_tensor(fixture['eval/input'])
    neck_out, init_out, refine_out, rois, refined = [], [], [], [], []
    filter_bboxes = model.bbox_head_init.filter_bboxes
    refine_head = model.bbox_head_refine[0]
    feature_refine = refine_head.feature_refine

    def record_rois(*args, **kwargs):
        result = filter_bboxes(*args, **kwargs)
        rois.append(result)
        return result

    def record_refined(*args, **kwargs):
        result = feature_refine(*args, **kwargs)
        refined.append(result)
        return result

    model.bbox_head_init.filter_bboxes = record_rois
    refine_head.feature_refine = record_refined
    handles = [
        capture_outputs(model.neck, neck_out),
        capture_outputs(model.bbox_head_init, init_out),
        capture_outputs(refine_head, refine_out)
    ]
    try:
        with torch.no_grad():
            results = model.predict(
                inputs, [_det_data_sample(inputs.shape[-2:])], rescale=True)
    finally:
        del model.bbox_head_init.filter_bboxes
        del refine_head.feature_refine
        for handle in handles:
            handle.remove()
    compare_neck(report, fixture, neck_out[0])
    compare_levels(report, fixture, 'init_cls', init_out[0][0])
    compare_levels(report, fixture, 'init_reg', init_out[0][1])
    for level, boxes in enumerate(rois[0][0]):
        key = f'eval/init_rois_p{level}'
        report.compare(key, boxes, fixture[key], rtol=MMROTATE_RTOL)
    for level, feat in enumerate(refined[0]):
        key = f'eval/refine_feat_p{level}'
        report.compare(key, feat[:, :32], fixture[key], rtol=MMROTATE_RTOL,
                       note='channels 0:32')
        report.compare(f'{key}_chsum', feat.sum(dim=(0, 2, 3)),
                       fixture[f'{key}_chsum'], rtol=MMROTATE_RTOL)
    compare_levels(report, fixture, 'refine_cls', refine_out[0][0])
    compare_levels(report, fixture, 'refine_reg', refine_out[0][1])
    compare_detections(report, fixture, results[0].pred_instances)


def compare_losses(report: EquivalenceReport,
                   fixture: Fixture,
                   model: torch.nn.Module,
                   prefix: str,
                   seed: Optional[int] = None) -> None:
    """Training-mode losses on the stored input and ground truth; per-level
    lists are compared as ``<name>_p{i}``."""
    from mmdet.structures import DetDataSample

    from mmosar.structures.bbox import RotatedBoxes
    inputs = torch.as_tensor(fixture['eval/input'])
    sample = DetDataSample(metainfo=eval_metainfo(inputs.shape[-2:]))
    sample.gt_instances = InstanceData(
        bboxes=RotatedBoxes(torch.as_tensor(fixture['train/gt_bboxes'])),
        labels=torch.as_tensor(fixture['train/gt_labels']))
    sample.ignored_instances = InstanceData(
        bboxes=RotatedBoxes(torch.zeros((0, 5), dtype=torch.float64)),
        labels=torch.zeros((0, ), dtype=torch.long))
    model.train()
    if seed is not None:
        torch.manual_seed(seed)
    with torch.no_grad():
        losses = model.loss(inputs, [sample])
    note = 'RandomSampler, torch.manual_seed(0)' if seed is not None else ''
    for name, value in losses.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for level, item in enumerate(values):
            key = (f'{prefix}/{name}_p{level}'
                   if isinstance(value, (list, tuple)) else f'{prefix}/{name}')
            if key in fixture:
                report.compare(key, item, fixture[key], rtol=MMROTATE_RTOL,
                               note=note)
            else:
                report.compare(key, np.array([1]), np.array([0]),
                               note='loss not in the fixture')
    for key in fixture.outputs.files:
        if key.startswith(prefix + '/') and not any(
                c.key == key for c in report.comparisons):
            report.compare(key, np.array([0]), np.array([1]),
                           note='fixture loss not produced')


CHECKS: Dict[str, Callable[[Fixture, EquivalenceReport], None]] = {
    'rotated-fcos-le90_r50_fpn_1x_dota':
    lambda f, r: check_single_stage(
        f, r, ('head_cls', 'head_reg', 'head_angle', 'head_centerness')),
    'rotated-atss-le90_r50_fpn_1x_dota':
    lambda f, r: check_single_stage(
        f, r, ('head_cls', 'head_reg', 'head_centerness')),
    'oriented-rcnn-le90_r50_fpn_1x_dota':
    check_two_stage,
    'rotated_rtmdet_tiny-3x-dota':
    lambda f, r: check_single_stage(f, r,
                                    ('head_cls', 'head_reg', 'head_angle')),
    'roi-trans-le90_r50_fpn_1x_dota':
    check_cascade,
    'r3det-oc_r50_fpn_1x_dota':
    check_refine,
    's2anet-le90_r50_fpn_1x_dota':
    check_refine,
}


def check(fixture: Fixture, report: EquivalenceReport) -> None:
    """Run the check of ``mmrotate/<config>`` (dispatch on the config)."""
    config = fixture.name.split('/', 1)[-1]
    if config not in CHECKS:
        raise KeyError(f'no mmrotate equivalence check for {config!r}; '
                       f'implemented: {sorted(CHECKS)}')
    CHECKS[config](fixture, report)
