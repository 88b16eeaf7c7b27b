"""Detection on images too large for one forward pass: sliding-window
patches, batched inference, and a merge by per-class rotated NMS."""
import copy
from typing import Sequence, Union

import mmcv
import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet.structures import DetDataSample
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from torch import nn

from mmosar.datasets.utils.patch_split import crop_window, sliding_windows
from mmosar.evaluation.functional.patch_merge import merge_boxes_by_nms

# Pipeline steps that read or convert ground truth; an image has none here.
_GT_TRANSFORMS = ('LoadAnnotations', 'ConvertBoxType')


def patch_windows(width: int,
                  height: int,
                  patch_sizes: Sequence[int],
                  patch_steps: Sequence[int],
                  img_ratios: Sequence[float] = (1.0, ),
                  img_rate_thr: float = 0.6) -> np.ndarray:
    """Sliding windows for patch inference.

    For an image ratio ``r`` a window covers ``size / r`` original pixels
    with a stride of ``step / r`` (the test pipeline then resizes the patch),
    so ``r > 1`` zooms in and ``r < 1`` zooms out.

    Args:
        width: Image width.
        height: Image height.
        patch_sizes: Patch sizes, one per step.
        patch_steps: Strides between patches (``step <= size``).
        img_ratios: Image ratios (multi-scale inference).
        img_rate_thr: Minimum fraction of a window covered by the image.

    Returns:
        np.ndarray: ``(M, 4)`` windows ``x1, y1, x2, y2``.
    """
    if len(patch_sizes) != len(patch_steps):
        raise ValueError('give one patch step per patch size')
    sizes, gaps = [], []
    for ratio in img_ratios:
        if ratio <= 0:
            raise ValueError(f'img_ratios must be positive, got {ratio}')
        for size, step in zip(patch_sizes, patch_steps):
            if not 0 < step <= size:
                raise ValueError(f'patch step {step} must be in (0, {size}]')
            sizes.append(int(size / ratio))
            gaps.append(int(size / ratio) - int(step / ratio))
    return sliding_windows(width, height, sizes, gaps, img_rate_thr)


def build_patch_pipeline(cfg) -> Compose:
    """Test pipeline of ``cfg`` fed with in-memory patches.

    The first step (image loading) becomes ``mmdet.LoadImageFromNDArray``
    and ground-truth steps (``LoadAnnotations``, ``ConvertBoxType``) are
    dropped.
    """
    pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
    pipeline = [
        step for step in pipeline
        if step['type'].split('.')[-1] not in _GT_TRANSFORMS
    ]
    pipeline[0] = dict(type='mmdet.LoadImageFromNDArray')
    return Compose(pipeline)


def inference_detector_by_patches(model: nn.Module,
                                  img: Union[str, np.ndarray],
                                  patch_sizes: Sequence[int] = (1024, ),
                                  patch_steps: Sequence[int] = (824, ),
                                  img_ratios: Sequence[float] = (1.0, ),
                                  merge_iou_thr: float = 0.1,
                                  batch_size: int = 4,
                                  pad_value: Union[int, Sequence[int]] = 0,
                                  img_rate_thr: float = 0.6) -> DetDataSample:
    """Detect objects on a huge image patch by patch.

    Args:
        model: A detector from :func:`mmdet.apis.init_detector` (it carries
            its config as ``model.cfg``).
        img: Image path or ``(H, W, C)`` BGR array.
        patch_sizes: Patch sizes in model-input pixels.
        patch_steps: Strides between patches, one per size.
        img_ratios: Image ratios for multi-scale inference.
        merge_iou_thr: Per-class rotated-NMS IoU threshold of the merge.
        batch_size: Patches per forward pass.
        pad_value: Fill value of patches that leave the image.
        img_rate_thr: Minimum image-covered fraction of a kept window.

    Returns:
        DetDataSample: ``pred_instances`` with ``bboxes``, ``scores`` and
        ``labels`` in image coordinates (boxes of the model's box type),
        sorted by score.
    """
    cfg = model.cfg
    init_default_scope(cfg.get('default_scope', 'mmosar'))
    image = mmcv.imread(img) if isinstance(img, str) else img
    height, width = image.shape[:2]
    windows = patch_windows(width, height, patch_sizes, patch_steps,
                            img_ratios, img_rate_thr)
    pipeline = build_patch_pipeline(cfg)

    boxes, scores, labels, box_type = [], [], [], None
    for start in range(0, len(windows), batch_size):
        batch = [
            pipeline(
                dict(
                    img=crop_window(image, window, pad_value),
                    img_id=start + k))
            for k, window in enumerate(windows[start:start + batch_size])
        ]
        data = dict(
            inputs=[item['inputs'] for item in batch],
            data_samples=[item['data_samples'] for item in batch])
        with torch.no_grad():
            outputs = model.test_step(data)
        for output in outputs:
            pred = output.pred_instances
            box_type = type(pred.bboxes)
            boxes.append(_box_tensor(pred.bboxes).cpu())
            scores.append(pred.scores.cpu())
            labels.append(pred.labels.cpu())
    offsets = [(int(w[0]), int(w[1])) for w in windows]
    merged_boxes, merged_scores, merged_labels = merge_boxes_by_nms(
        boxes, scores, labels, offsets, iou_thr=merge_iou_thr)

    result = DetDataSample(
        metainfo=dict(
            img_path=img if isinstance(img, str) else None,
            img_shape=(height, width),
            ori_shape=(height, width)))
    instances = InstanceData()
    if box_type is not None and box_type is not torch.Tensor:
        instances.bboxes = box_type(merged_boxes)
    else:
        instances.bboxes = merged_boxes
    instances.scores = merged_scores
    instances.labels = merged_labels
    result.pred_instances = instances
    return result


def _box_tensor(boxes) -> torch.Tensor:
    """Plain tensor of a box tensor or an mmdet ``BaseBoxes``."""
    return boxes.tensor if hasattr(boxes, 'tensor') else boxes


__all__ = ['inference_detector_by_patches', 'patch_windows']
