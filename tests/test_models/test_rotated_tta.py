"""RotatedDetTTAModel: predictions of flipped paired views, flipped back.

The detector under the TTA model is a stand-in that is flip-equivariant by
construction: it fits a rotated box to the bright pixels by image moments
(centroid, and side lengths ``sqrt(12 * eigenvalue)`` of a uniform
rectangle), on the pixels bright in both the optical and the SAR bands. So
each view's prediction is the drawn rectangle in that view's frame, and the
round trip (paired flip in the pipeline, detector, flip back in the TTA
merge) must give the drawn rectangle in the original frame. The reference
is the drawn rectangle itself, compared as shapely polygons.
"""
import copy
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import TestTimeAug
from mmengine.dataset import pseudo_collate
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from shapely.geometry import Polygon

from mmosar.registry import MODELS, TRANSFORMS

REPO = Path(__file__).resolve().parents[2]
HEIGHT, WIDTH = 64, 96  # not square: catches swapped image sides
TRUTH = (58.0, 26.0, 36.0, 12.0, math.radians(25))  # cx, cy, w, h, t
META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
             'flip', 'flip_direction', 'rotate_angle', 'modality_channels')


def corners(cx, cy, w, h, t):
    """Corners of a rectangle whose ``w`` side points along ``(cos t,
    sin t)`` in image coordinates (x right, y down)."""
    along = np.array([math.cos(t), math.sin(t)]) * w / 2
    across = np.array([-math.sin(t), math.cos(t)]) * h / 2
    centre = np.array([cx, cy])
    return np.stack([
        centre - along - across, centre + along - across,
        centre + along + across, centre - along + across
    ])


def iou(box_a, box_b) -> float:
    a, b = Polygon(corners(*box_a)), Polygon(corners(*box_b))
    return a.intersection(b).area / a.union(b).area


def paired_sample():
    """Optical (3 bands) and SAR (3 bands, speckled) showing the same
    rectangle, as LoadPairedImages would stack them."""
    rng = np.random.RandomState(0)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    # pixel (i, j) covers [j, j+1) x [i, i+1): shift by half a pixel
    cv2.fillPoly(mask, [np.round((corners(*TRUTH) - 0.5) * 16).astype(
        np.int32)], 1, shift=4)
    optical = np.where(mask[..., None], 220, 40) + rng.randint(
        0, 20, (HEIGHT, WIDTH, 3))
    sar = np.where(mask, 200, 30) * rng.gamma(8.0, 1 / 8.0, mask.shape)
    img = np.concatenate(
        [optical, np.repeat(sar[..., None], 3, axis=2)], axis=2)
    return dict(
        img=np.clip(img, 0, 255).astype(np.uint8),
        img_id=0,
        img_path='synthetic_pair.png',
        img_shape=(HEIGHT, WIDTH),
        ori_shape=(HEIGHT, WIDTH),
        modality_channels=dict(optical=3, sar=3))


class MomentDetector(BaseModel):
    """One rotated box per image from the moments of the pixels that are
    bright in both modalities, rescaled to the original image."""

    def __init__(self):
        super().__init__(data_preprocessor=dict(
            type='PairedDetDataPreprocessor',
            mean=dict(optical=[0.0], sar=[0.0]),
            std=dict(optical=[255.0], sar=[255.0]),
            modality_channels=dict(optical=3, sar=3)))

    def forward(self, inputs, data_samples=None, mode='predict'):
        for image, sample in zip(inputs, data_samples):
            bright = (image[:3].mean(0) > 0.5) & (image[3:].mean(0) > 0.5)
            ys, xs = torch.nonzero(bright, as_tuple=True)
            points = torch.stack([xs, ys], 1).double() + 0.5
            centre = points.mean(0)
            values, vectors = torch.linalg.eigh(torch.cov(points.T))
            major = vectors[:, 1]
            box = torch.cat([
                centre, (12 * values.flip(0)).sqrt(),
                torch.atan2(major[1], major[0])[None]
            ])
            scale = sample.metainfo['scale_factor'][0]
            box[:4] /= scale
            sample.pred_instances = InstanceData(
                bboxes=box[None].float(),
                scores=torch.ones(1),
                labels=torch.zeros(1, dtype=torch.long))
        return data_samples


def tta_model(iou_threshold=0.5):
    return MODELS.build(
        dict(
            type='RotatedDetTTAModel',
            module=MomentDetector(),
            tta_cfg=dict(
                nms=dict(type='nms_rotated', iou_threshold=iou_threshold),
                max_per_img=10)))


DIRECTIONS = ['horizontal', 'vertical', 'diagonal']


def tta_views(angles=(0, )):
    """Views at twice the size: no flip and three flips, each rotated by
    every angle (degrees, about the image centre), packed."""
    pipeline = TestTimeAug(transforms=[
        [dict(type='Resize', scale=(2 * WIDTH, 2 * HEIGHT), keep_ratio=True)],
        [dict(type='RandomFlip', prob=0.0)] + [
            dict(type='RandomFlip', prob=1.0, direction=d)
            for d in DIRECTIONS
        ],
        [dict(type='Rotate', angle=a) for a in angles],
        [dict(type='PackDetInputs', meta_keys=META_KEYS)],
    ])
    return pseudo_collate([pipeline(paired_sample())])


def test_each_flipped_or_rotated_view_comes_back_to_the_original_frame():
    model = tta_model()
    data = tta_views(angles=(0, 30, -90))
    views = [{key: value[i]
              for key, value in data.items()}
             for i in range(len(data['inputs']))]
    assert len(views) == 4 * 3
    for view in views:
        sample = model.module.test_step(view)[0]
        meta = sample.metainfo
        raw = sample.pred_instances.bboxes
        back = model.merge_aug_bboxes([raw], None, [meta])
        name = (meta['flip_direction'], meta['rotate_angle'])
        assert iou(back[0].tolist(), TRUTH) > 0.9, name
        if meta['flip'] or meta['rotate_angle']:
            # the stand-in really saw a flipped / rotated pair
            assert iou(raw[0].tolist(), TRUTH) < 0.5, name


def test_merged_prediction_is_the_drawn_rectangle():
    merged = tta_model().test_step(tta_views())[0]
    assert merged.metainfo['flip'] is False
    assert len(merged.pred_instances) == 1  # the four views agree
    assert iou(merged.pred_instances.bboxes[0].tolist(), TRUTH) > 0.9
    # with a tiny NMS threshold nothing merges unless boxes coincide
    unmerged = tta_model(iou_threshold=0.99).test_step(tta_views())[0]
    assert 1 <= len(unmerged.pred_instances) <= 4


def test_horizontal_boxes_are_refused():
    model = tta_model()
    with pytest.raises(ValueError, match=r'\(n, 5\) rotated boxes.*'
                       r'synthetic_pair'):
        model.merge_aug_bboxes([torch.zeros(2, 4)], None, [
            dict(img_path='synthetic_pair.png', flip=False)
        ])


def test_enable_tta_on_the_e2e_osdet_recipe(tmp_path):
    """``tools/test.py --tta`` on the M4-SAR recipe: the detector becomes
    the TTA model's module, and the test pipeline loads a pair on disk,
    flips both modalities and loads the ground truth in the original
    frame for every view."""
    from mmengine.config import Config

    from mmosar.utils.runner_utils import enable_tta
    cfg = Config.fromfile(
        str(REPO / 'configs/e2e_osdet/e2e-osdet_yolo11s-obb_300e_m4sar.py'))
    detector = copy.deepcopy(cfg.model)
    enable_tta(cfg)
    assert cfg.model.type == 'RotatedDetTTAModel'
    assert cfg.model.module == detector

    sample = paired_sample()
    optical, sar = tmp_path / 'optical.png', tmp_path / 'sar.png'
    cv2.imwrite(str(optical), sample['img'][..., :3])
    cv2.imwrite(str(sar), sample['img'][..., 3])
    results = dict(
        img_path=str(optical),
        sar_path=str(sar),
        img_id=0,
        instances=[
            dict(
                bbox=corners(*TRUTH).ravel().tolist(),
                bbox_label=0,
                ignore_flag=0)
        ])
    for transform in cfg.test_dataloader.dataset.pipeline:
        results = TRANSFORMS.build(copy.deepcopy(transform))(results)
    directions = [
        s.metainfo['flip_direction'] for s in results['data_samples']
    ]
    assert directions == [None] + DIRECTIONS
    unflipped = results['inputs'][0].numpy()
    for inputs, sample, direction in zip(results['inputs'],
                                         results['data_samples'], directions):
        assert inputs.shape[0] == 6
        # both modalities flipped together (the bands are CHW here)
        if direction is not None:
            axes = dict(
                horizontal=(2, ), vertical=(1, ), diagonal=(1, 2))[direction]
            np.testing.assert_array_equal(
                inputs.numpy(), np.flip(unflipped, axes))
        gt = sample.gt_instances.bboxes.tensor[0].tolist()
        assert iou(gt, TRUTH) > 0.95  # ground truth stays unflipped


def test_e2e_osdet_inside_the_tta_model():
    """The paired detector (toy width, random weights) under
    RotatedDetTTAModel: eight views of one pair in, one merged sample of
    (n, 5) boxes in the original frame out."""
    from mmengine.config import Config
    cfg = Config.fromfile(
        str(REPO / 'configs/e2e_osdet/e2e-osdet_yolo11n-obb_toy_m4sar.py'))
    cfg.model.test_cfg.score_thr = 0.0  # random weights: keep every box
    cfg.model.test_cfg.max_per_img = 20
    model = MODELS.build(
        dict(
            type='RotatedDetTTAModel',
            module=cfg.model,
            tta_cfg=dict(
                nms=dict(type='nms_rotated', iou_threshold=0.5),
                max_per_img=30)))
    model.eval()
    with torch.no_grad():
        merged = model.test_step(tta_views(angles=(0, 90)))[0]
    boxes = merged.pred_instances.bboxes
    assert boxes.shape[1] == 5 and 0 < len(boxes) <= 30
    assert merged.metainfo['flip'] is False
    assert merged.metainfo['rotate_angle'] == 0
    scores = merged.pred_instances.scores
    assert (scores[:-1] >= scores[1:]).all()
