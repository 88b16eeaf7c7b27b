"""ONNX export of mmosar's rotated single-stage detectors.

The exported graph maps the data preprocessor's output (normalised, padded
``(1, C, H, W)`` float32 batch; for paired models the optical bands then the
SAR bands) to *dense* decoded predictions, one row per prior:

- ``boxes`` ``(1, A, 5)``: rotated boxes ``(cx, cy, w, h, t)`` in input
  pixels, decoded exactly as the head's ``predict_by_feat`` decodes them
  (the priors are constants of the graph: the input size is static);
- ``scores`` ``(1, A, num_classes)``: sigmoid class scores.

With ``postprocess='graph'`` (YOLO-OBB heads with ``probiou_nms`` only),
:class:`GraphNMSDetector` runs the ProbIoU "fast" NMS in the graph on a
fixed number of candidates and returns final detections instead.

Otherwise everything that needs data-dependent shapes (score threshold, top-k,
rotated NMS, ``max_per_img``) is the numpy step
:func:`mmosar.deployment.postprocess.postprocess_detections`, driven by the
``test_cfg`` that the export writes into the ONNX metadata
(:data:`POSTPROCESS_KEY`). Supported heads: :class:`YOLOOBBHead`
(E2E-OSDet family) and :class:`RotatedRetinaHead`.
"""
import json
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from mmosar.models.dense_heads.rotated_retina_head import RotatedRetinaHead
from mmosar.models.dense_heads.yolo_obb_head import YOLOOBBHead

from .selective_scan_export import export_scan_backend

#: ONNX metadata key holding the post-processing settings (JSON).
POSTPROCESS_KEY = 'mmosar_postprocess'
#: Names of the graph's input and outputs.
INPUT_NAME = 'inputs'
OUTPUT_NAMES = ('boxes', 'scores')
GRAPH_OUTPUT_NAMES = ('boxes', 'scores', 'labels')
#: Where the NMS runs (see :func:`export_onnx`).
POSTPROCESS_MODES = ('numpy', 'graph')
#: Default ONNX opset.
DEFAULT_OPSET = 18
#: Supported exporters (see :func:`export_onnx`).
EXPORTERS = ('dynamo', 'torchscript')


def _box_tensor(boxes) -> Tensor:
    return boxes.tensor if hasattr(boxes, 'tensor') else boxes


class DenseRotatedDetector(nn.Module):
    """Detector wrapper whose forward returns dense ``(boxes, scores)``.

    Args:
        detector (nn.Module): an mmdet single-stage detector
            (``extract_feat`` + ``bbox_head``) with a supported head.

    Shapes:
        ``(1, C, H, W)`` -> boxes ``(1, A, 5)``, scores ``(1, A, K)``.
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        head = getattr(detector, 'bbox_head', None)
        if not isinstance(head, (YOLOOBBHead, RotatedRetinaHead)):
            raise TypeError(
                'ONNX export supports detectors with a YOLOOBBHead or a '
                f'RotatedRetinaHead, got {type(head).__name__}')
        self.detector = detector

    def forward(self, inputs: Tensor) -> Tuple[Tensor, Tensor]:
        head = self.detector.bbox_head
        outs = head(self.detector.extract_feat(inputs))
        if isinstance(head, YOLOOBBHead):
            return self._yolo_obb(head, *outs)
        return self._retina(head, inputs.shape[-2:], *outs)

    @staticmethod
    def _yolo_obb(head: YOLOOBBHead, cls_scores: List[Tensor],
                  bbox_dists: List[Tensor],
                  angle_preds: List[Tensor]) -> Tuple[Tensor, Tensor]:
        # the computation of YOLOOBBHead.predict_by_feat before thresholding
        anchor_points, strides = head._priors(cls_scores)
        boxes = head.decode(anchor_points, strides,
                            head._flatten(bbox_dists),
                            head._flatten(angle_preds))
        return boxes, head._flatten(cls_scores).sigmoid()

    @staticmethod
    def _retina(head: RotatedRetinaHead, input_shape: Tuple[int, int],
                cls_scores: List[Tensor],
                bbox_preds: List[Tensor]) -> Tuple[Tensor, Tensor]:
        # mmdet's _predict_by_feat_single, for all priors of every level; the
        # coder clamps decoded centres to the image as mmrotate does (here
        # the input size: the image's own size when the input is unpadded)
        priors = head.prior_generator.grid_priors(
            [c.shape[-2:] for c in cls_scores],
            dtype=cls_scores[0].dtype,
            device=cls_scores[0].device)
        priors = torch.cat([_box_tensor(p) for p in priors])
        dim = head.bbox_coder.encode_size
        deltas = torch.cat([
            p.permute(0, 2, 3, 1).reshape(p.shape[0], -1, dim)
            for p in bbox_preds
        ], 1)
        logits = torch.cat([
            c.permute(0, 2, 3, 1).reshape(c.shape[0], -1,
                                          head.cls_out_channels)
            for c in cls_scores
        ], 1)
        boxes = _box_tensor(
            head.bbox_coder.decode(
                priors.expand(deltas.shape[0], -1, -1), deltas,
                max_shape=tuple(int(v) for v in input_shape)))
        return boxes, logits.sigmoid()


def probiou_pairwise(boxes: Tensor, eps: float = 1e-7) -> Tensor:
    """ProbIoU ``(N, N)`` of ``(N, 5)`` boxes with the covariance entries in
    closed form (``a = (w^2 cos^2 + h^2 sin^2) / 12``, ``b = (w^2 sin^2 +
    h^2 cos^2) / 12``, ``c = (w^2 - h^2) cos sin / 12``): the formula of
    :func:`mmosar.structures.bbox.rbbox_probiou` without ``diag_embed``,
    which the TorchScript ONNX exporter lacks."""
    w2, h2 = boxes[:, 2]**2 / 12, boxes[:, 3]**2 / 12
    cos, sin = torch.cos(boxes[:, 4]), torch.sin(boxes[:, 4])
    a1 = w2 * cos**2 + h2 * sin**2
    b1 = w2 * sin**2 + h2 * cos**2
    c1 = (w2 - h2) * cos * sin
    a = a1[:, None] + a1[None]
    b = b1[:, None] + b1[None]
    c = c1[:, None] + c1[None]
    det_sum = a * b - c * c
    dx = boxes[:, None, 0] - boxes[None, :, 0]
    dy = boxes[:, None, 1] - boxes[None, :, 1]
    mahalanobis = (b * dx * dx - 2 * c * dx * dy + a * dy * dy) / (
        det_sum + eps) / 4
    det = w2 * h2
    log_term = torch.log(det_sum / (4 * (det[:, None] * det[None]).sqrt() +
                                    eps) + eps) / 2
    distance = (mahalanobis + log_term).clamp(eps, 100.0)
    return 1 - (1 - torch.exp(-distance) + eps).sqrt()


class GraphNMSDetector(DenseRotatedDetector):
    """:class:`DenseRotatedDetector` with ProbIoU "fast" NMS in the graph
    (YOLO-OBB heads whose ``test_cfg.nms.type`` is ``'probiou_nms'``).

    With static shapes: the ``num_candidates`` best (prior, class) scores
    (``TopK``) are the candidates, those with ``score <= score_thr`` are
    dropped, a candidate is suppressed when its ProbIoU with any
    higher-scoring candidate of its class (classes shifted apart by 7680 px,
    as the head does) is ``>= iou_threshold``, and the ``max_per_img`` best
    survivors are returned. This equals the head's ``predict`` whenever at
    most ``num_candidates`` pairs pass ``score_thr`` (else the lowest
    candidates are missing), up to the order of exactly tied scores.

    Args:
        detector (nn.Module): detector with a :class:`YOLOOBBHead`.
        num_candidates (int): candidate cap (also capped by ``nms_pre``).

    Shapes:
        ``(1, C, H, W)`` -> boxes ``(1, M, 5)``, scores ``(1, M)`` (0 for
        empty slots), labels ``(1, M)`` (int64, -1 for empty slots) with
        ``M = max_per_img`` (or fewer when fewer candidates exist).
    """

    def __init__(self, detector: nn.Module, num_candidates: int) -> None:
        super().__init__(detector)
        head = detector.bbox_head
        cfg = dict(head.test_cfg or {})
        nms = dict(cfg.get('nms', {}))
        if not isinstance(head, YOLOOBBHead) or nms.get(
                'type') != 'probiou_nms':
            raise ValueError(
                'NMS in the graph needs a YOLOOBBHead with test_cfg.nms.type'
                " = 'probiou_nms' (mmcv's polygon-IoU nms_rotated has no "
                f'ONNX form); got {type(head).__name__} with nms {nms}')
        nms_pre = int(cfg.get('nms_pre', 30000))
        self.num_candidates = (
            min(num_candidates, nms_pre) if nms_pre > 0 else num_candidates)
        self.score_thr = float(cfg.get('score_thr', 0.001))
        self.iou_threshold = float(nms['iou_threshold'])
        self.max_per_img = int(cfg.get('max_per_img', 300))

    def forward(self, inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        boxes, scores = super().forward(inputs)
        num_classes = scores.shape[-1]
        flat = scores[0].reshape(-1)
        values, index = flat.topk(min(self.num_candidates, flat.numel()))
        labels = index % num_classes
        cand = boxes[0][index // num_classes]
        valid = values > self.score_thr
        offset = labels[:, None].to(cand) * 7680.0
        shifted = torch.cat([cand[:, :2] + offset, cand[:, 2:]], -1)
        ious = probiou_pairwise(shifted).triu(diagonal=1)
        suppressed = ((ious >= self.iou_threshold) & valid[:, None]).any(0)
        keep = valid & ~suppressed
        kept_scores = torch.where(keep, values, torch.zeros_like(values))
        out_scores, order = kept_scores.topk(
            min(self.max_per_img, kept_scores.numel()))
        out_labels = torch.where(out_scores > 0, labels[order],
                                 torch.full_like(labels[order], -1))
        return cand[order][None], out_scores[None], out_labels[None]


def level_sizes(detector: nn.Module, in_channels: int,
                shape: Sequence[int]) -> List[int]:
    """Number of priors per pyramid level for a ``(1, C, H, W)`` input
    (from one forward pass of the feature maps)."""
    head = detector.bbox_head
    with torch.no_grad():
        cls_scores = head(
            detector.extract_feat(torch.zeros(1, in_channels, *shape)))[0]
    per_point = (1 if isinstance(head, YOLOOBBHead) else
                 head.prior_generator.num_base_priors[0])
    return [c.shape[-2] * c.shape[-1] * per_point for c in cls_scores]


def postprocess_config(detector: nn.Module, in_channels: int,
                       shape: Sequence[int]) -> Dict:
    """The settings the numpy post-processing needs, from ``test_cfg``.

    Returns:
        dict: ``head`` (``'yolo_obb'`` or ``'retina'``), ``score_thr``,
        ``nms_pre``, ``nms`` (type and ``iou_threshold``), ``max_per_img``,
        ``min_bbox_size`` (RetinaNet; -1 = off) and ``level_sizes``.
    """
    head = detector.bbox_head
    cfg = dict(head.test_cfg or {})
    is_yolo = isinstance(head, YOLOOBBHead)
    nms = dict(cfg.get('nms', dict(type='nms_rotated', iou_threshold=0.7)))
    out = dict(
        head='yolo_obb' if is_yolo else 'retina',
        score_thr=float(cfg.get('score_thr', 0.001 if is_yolo else 0.0)),
        nms_pre=int(cfg.get('nms_pre', 30000 if is_yolo else -1)),
        nms=dict(
            type=nms.get('type', 'nms_rotated'),
            iou_threshold=float(nms['iou_threshold'])),
        max_per_img=int(cfg.get('max_per_img', 300 if is_yolo else 100)),
        min_bbox_size=float(
            -1 if is_yolo else cfg.get('min_bbox_size', -1)),
        level_sizes=level_sizes(detector, in_channels, shape),
        input_shape=[int(s) for s in shape])
    if nms['type'] not in ('nms_rotated', 'probiou_nms'):
        raise ValueError(f"test_cfg.nms.type must be 'nms_rotated' or "
                         f"'probiou_nms' for export, got {nms['type']!r}")
    return out


def export_onnx(detector: nn.Module,
                in_channels: int,
                shape: Sequence[int],
                path: str,
                opset: int = DEFAULT_OPSET,
                exporter: str = 'dynamo',
                postprocess: str = 'numpy',
                num_candidates: int = 1000) -> Dict:
    """Export ``detector`` (eval mode, CPU) to ``path``.

    Args:
        detector (nn.Module): supported single-stage detector.
        in_channels (int): bands of the input (6 for paired E2E-OSDet).
        shape (Sequence[int]): static ``(H, W)`` input size (a multiple of
            the largest stride, as the data preprocessor pads it).
        path (str): output ``.onnx`` file.
        opset (int): ONNX opset.
        exporter (str): ``'dynamo'`` (``torch.export`` + onnxscript,
            PyTorch's maintained exporter) or ``'torchscript'`` (the legacy
            tracer, several times faster to export the same graph).
        postprocess (str): ``'numpy'``: dense ``boxes``/``scores`` outputs
            for :func:`~mmosar.deployment.postprocess.postprocess_detections`;
            ``'graph'``: final ``boxes``/``scores``/``labels`` with ProbIoU
            NMS in the graph (:class:`GraphNMSDetector`).
        num_candidates (int): candidate cap of ``'graph'``.

    Returns:
        dict: the post-processing settings written to the metadata.
    """
    import onnx  # optional dependency

    if exporter not in EXPORTERS:
        raise ValueError(f'exporter must be one of {EXPORTERS}, got '
                         f'{exporter!r}')
    if postprocess not in POSTPROCESS_MODES:
        raise ValueError(f'postprocess must be one of {POSTPROCESS_MODES}, '
                         f'got {postprocess!r}')
    detector = detector.eval()
    post = postprocess_config(detector, in_channels, shape)
    post['postprocess'] = postprocess
    if postprocess == 'graph':
        wrapper = GraphNMSDetector(detector, num_candidates).eval()
        post['num_candidates'] = wrapper.num_candidates
        outputs = GRAPH_OUTPUT_NAMES
    else:
        wrapper = DenseRotatedDetector(detector).eval()
        outputs = OUTPUT_NAMES
    dummy = torch.zeros(1, in_channels, *shape)
    names = dict(
        input_names=[INPUT_NAME],
        output_names=list(outputs),
        opset_version=opset)
    with torch.no_grad(), export_scan_backend(detector):
        if exporter == 'dynamo':
            torch.onnx.export(
                wrapper, (dummy, ), dynamo=True, external_data=False,
                **names).save(path)
        else:
            torch.onnx.export(wrapper, (dummy, ), path, dynamo=False, **names)
    model = onnx.load(path)
    entry = model.metadata_props.add()
    entry.key, entry.value = POSTPROCESS_KEY, json.dumps(post)
    onnx.save(model, path)
    return post


def input_channels(detector: nn.Module) -> int:
    """Bands of the detector's input: the sum of ``modality_channels`` for
    paired backbones, else the backbone's ``in_channels`` (3 by default)."""
    backbone = detector.backbone
    if hasattr(backbone, 'modality_channels'):
        return int(sum(backbone.modality_channels.values()))
    stem = next(m for m in backbone.modules() if isinstance(m, nn.Conv2d))
    return stem.in_channels


def load_detector(config: str,
                  checkpoint: Optional[str],
                  cfg_options: Optional[dict] = None) -> nn.Module:
    """Build the detector of ``config`` (with ``cfg_options`` merged, eval
    mode, CPU) and load ``checkpoint`` strictly; ``None`` keeps the initial
    weights."""
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint

    from mmosar.registry import MODELS
    from mmosar.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    detector = MODELS.build(cfg.model)
    if checkpoint is None:
        detector.init_weights()
    else:
        load_checkpoint(detector, checkpoint, map_location='cpu', strict=True)
    return detector.eval()
