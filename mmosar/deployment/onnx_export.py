"""ONNX export of mmosar's rotated single-stage detectors.

The exported graph maps the data preprocessor's output (normalised, padded
``(1, C, H, W)`` float32 batch; for paired models the optical bands then the
SAR bands) to *dense* decoded predictions, one row per prior:

- ``boxes`` ``(1, A, 5)``: rotated boxes ``(cx, cy, w, h, t)`` in input
  pixels, decoded exactly as the head's ``predict_by_feat`` decodes them
  (the priors are constants of the graph: the input size is static);
- ``scores`` ``(1, A, num_classes)``: sigmoid class scores.

Everything that needs data-dependent shapes (score threshold, top-k,
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
        return self._retina(head, *outs)

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
    def _retina(head: RotatedRetinaHead, cls_scores: List[Tensor],
                bbox_preds: List[Tensor]) -> Tuple[Tensor, Tensor]:
        # mmdet's _predict_by_feat_single, for all priors of every level
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
                priors.expand(deltas.shape[0], -1, -1), deltas))
        return boxes, logits.sigmoid()


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
                exporter: str = 'dynamo') -> Dict:
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

    Returns:
        dict: the post-processing settings written to the metadata.
    """
    import onnx  # optional dependency

    if exporter not in EXPORTERS:
        raise ValueError(f'exporter must be one of {EXPORTERS}, got '
                         f'{exporter!r}')
    detector = detector.eval()
    wrapper = DenseRotatedDetector(detector).eval()
    dummy = torch.zeros(1, in_channels, *shape)
    post = postprocess_config(detector, in_channels, shape)
    names = dict(
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
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


def load_detector(config: str, checkpoint: Optional[str]) -> nn.Module:
    """Build the detector of ``config`` (eval mode, CPU) and load
    ``checkpoint`` strictly; ``None`` keeps the initial weights."""
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint

    from mmosar.registry import MODELS
    from mmosar.utils import register_all_modules

    register_all_modules()
    cfg = Config.fromfile(config)
    detector = MODELS.build(cfg.model)
    if checkpoint is None:
        detector.init_weights()
    else:
        load_checkpoint(detector, checkpoint, map_location='cpu', strict=True)
    return detector.eval()
