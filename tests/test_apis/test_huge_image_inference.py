"""Patch-wise inference on a large image with a stand-in detector."""
import math

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.structures import InstanceData
from torch import nn

from mmosar.apis import inference_detector_by_patches, patch_windows


class BrightPixelDetector(nn.Module):
    """Stand-in detector: one rotated box (cv2.minAreaRect) around the
    bright pixels of each patch, scored by their number, class 0."""

    def __init__(self):
        super().__init__()
        self.cfg = Config(
            dict(
                default_scope='mmosar',
                test_dataloader=dict(
                    dataset=dict(pipeline=[
                        dict(type='LoadImageFromFile'),
                        dict(type='LoadAnnotations', with_bbox=True),
                        dict(type='PackDetInputs')
                    ]))))
        self.num_patches = 0

    def test_step(self, data):
        outputs = []
        for inputs in data['inputs']:
            self.num_patches += 1
            ys, xs = np.nonzero(inputs.numpy().max(0) > 128)
            instances = InstanceData()
            if len(xs):
                points = np.stack([xs, ys], 1).astype(np.float32)
                (cx, cy), (w, h), angle = cv2.minAreaRect(points)
                instances.bboxes = torch.tensor(
                    [[cx, cy, w + 1, h + 1,
                      math.radians(angle)]])
                instances.scores = torch.tensor([float(len(xs))])
                instances.labels = torch.tensor([0])
            else:
                instances.bboxes = torch.zeros((0, 5))
                instances.scores = torch.zeros((0, ))
                instances.labels = torch.zeros((0, ), dtype=torch.long)
            outputs.append(DetDataSample(pred_instances=instances))
        return outputs


def test_patch_windows_ratios():
    windows = patch_windows(1400, 1200, [512], [400], img_ratios=[1.0, 2.0])
    sizes = sorted({int(w[2] - w[0]) for w in windows})
    assert sizes == [256, 512]
    # at ratio 1, x: 0, 400, 800, 1200 -> 888 (= 1400 - 512)
    xs = sorted({int(w[0]) for w in windows if w[2] - w[0] == 512})
    assert xs == [0, 400, 800, 888]
    # y: 0, 400, 800 -> 688 (= 1200 - 512)
    ys = sorted({int(w[1]) for w in windows if w[2] - w[0] == 512})
    assert ys == [0, 400, 688]


def test_inference_by_patches_recovers_the_object():
    image = np.zeros((1200, 1400, 3), dtype=np.uint8)
    center, size, angle = (700.0, 650.0), (300.0, 120.0), 30.0
    corners = cv2.boxPoints((center, size, angle))
    cv2.fillPoly(image, [np.round(corners).astype(np.int32)], (255, 255, 255))
    model = BrightPixelDetector()
    result = inference_detector_by_patches(
        model, image, patch_sizes=[512], patch_steps=[400], batch_size=3)
    windows = patch_windows(1400, 1200, [512], [400])
    assert model.num_patches == len(windows) == 12
    pred = result.pred_instances
    assert result.ori_shape == (1200, 1400)
    boxes = pred.bboxes.tensor if hasattr(pred.bboxes, 'tensor') else \
        pred.bboxes
    scores = pred.scores
    assert torch.all(scores[:-1] >= scores[1:])
    cx, cy, w, h, _ = boxes[0].tolist()
    # the top box is the complete object, in image coordinates
    assert abs(cx - center[0]) < 1.5 and abs(cy - center[1]) < 1.5
    assert sorted(
        (w, h)) == [pytest.approx(120, abs=3),
                    pytest.approx(300, abs=3)]
    # partial copies overlapping it were suppressed: the rest is small
    assert all(s < scores[0] * 0.3 for s in scores[1:])
