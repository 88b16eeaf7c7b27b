"""Rotated transforms and mmdet transforms on RotatedBoxes, checked against
numpy corner transforms and pixel content."""
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks

from mmosar.registry import TRANSFORMS
from mmosar.structures.bbox import QuadriBoxes, RotatedBoxes

sys.path.insert(0,
                str(Path(__file__).resolve().parents[1] / 'test_structures'))
from rbox_reference import np_corners, same_polygon  # noqa: E402


def make_results(num_bands=4, boxes=None, labels=None, size=(120, 160)):
    """Image whose bands are scaled copies of one pattern, with a filled
    rectangle (value 200) for each box in band 0."""
    img_h, img_w = size
    if boxes is None:
        boxes = np.array([[60., 50., 40., 14.,
                           math.radians(25)],
                          [110., 70., 30., 20.,
                           math.radians(-40)]])
    pattern = np.zeros((img_h, img_w), np.float32)
    for box in boxes:
        cv2.fillPoly(pattern,
                     [np.round(np_corners(box) - 0.5).astype(np.int32)], 200.0)
    pattern += np.random.default_rng(0).uniform(0, 20, (img_h, img_w))
    img = np.stack([pattern * (k + 1) / num_bands for k in range(num_bands)],
                   axis=2).astype(np.float32)
    labels = np.arange(len(boxes)) if labels is None else np.asarray(labels)
    return dict(
        img=img,
        img_shape=(img_h, img_w),
        ori_shape=(img_h, img_w),
        gt_bboxes=RotatedBoxes(torch.from_numpy(boxes).float()),
        gt_bboxes_labels=labels.astype(np.int64),
        gt_ignore_flags=np.zeros(len(boxes), bool))


def rotate_points(points, angle, size):
    """Continuous-coordinate rotation about the image centre (clockwise)."""
    img_h, img_w = size
    matrix = cv2.getRotationMatrix2D((img_w / 2, img_h / 2), -angle, 1.0)
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize('num_bands', [4, 6])
def test_rotate_keeps_bands_aligned_and_moves_boxes(num_bands):
    results = make_results(num_bands)
    boxes = results['gt_bboxes'].tensor.numpy().copy()
    rotate = TRANSFORMS.build(dict(type='Rotate', angle=30))
    out = rotate(results)
    img = out['img']
    assert img.shape == (120, 160, num_bands)
    for k in range(num_bands):  # every band warped identically
        np.testing.assert_allclose(
            img[..., k], img[..., 0] * (k + 1), rtol=1e-4, atol=1e-3)
    for box, moved in zip(boxes, out['gt_bboxes'].tensor.numpy()):
        expected = rotate_points(np_corners(box), 30, (120, 160))
        assert same_polygon(np_corners(moved), expected)
    # the drawn rectangles moved with the boxes: bright pixel centres lie in
    # the moved boxes
    bright_yx = np.nonzero(img[..., 0] * num_bands > 150)
    centres = np.stack(bright_yx[::-1], 1).astype(np.float32) + 0.5
    inside = out['gt_bboxes'].find_inside_points(torch.from_numpy(centres))
    assert inside.any(dim=1).float().mean() > 0.95


def test_rotate_masks_homography_and_drops_boxes_leaving_image():
    boxes = np.array([[60., 50., 40., 14., 0.3], [5., 5., 6., 6., 0.]])
    results = make_results(3, boxes)
    masks = np.zeros((2, 120, 160), np.uint8)
    masks[0, 40:60, 40:80] = 1
    masks[1, 0:10, 0:10] = 1
    results['gt_masks'] = BitmapMasks(masks, 120, 160)
    out = TRANSFORMS.build(dict(type='Rotate', angle=90))(results)
    # the corner box's centre leaves the image: removed with its mask
    assert len(out['gt_bboxes']) == 1 and len(out['gt_masks']) == 1
    assert out['gt_bboxes_labels'].tolist() == [0]
    mask = out['gt_masks'].masks[0]
    assert mask.sum() == pytest.approx(masks[0].sum(), rel=0.05)
    ys, xs = np.nonzero(mask)
    center = rotate_points(np.array([[60.0, 50.0]]), 90, (120, 160))[0]
    assert abs(xs.mean() + 0.5 - center[0]) < 1 and abs(ys.mean() + 0.5 -
                                                        center[1]) < 1
    mapped = out['homography_matrix'] @ np.array([60.0, 50.0, 1.0])
    np.testing.assert_allclose(mapped[:2], center, atol=1e-3)


def test_rect_obj_labels_stay_axis_aligned():
    boxes = np.array([[60., 50., 20., 20., 0.], [100., 60., 40., 10., 0.2]])
    results = make_results(3, boxes, labels=[7, 1])
    out = TRANSFORMS.build(dict(type='Rotate', angle=30, rect_obj_labels=[7]))(
        results)
    rect, other = out['gt_bboxes'].tensor.numpy()
    assert rect[4] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(
        rect[:2], rotate_points(boxes[:1, :2], 30, (120, 160))[0], atol=1e-4)
    assert other[4] == pytest.approx(0.2 + math.radians(30), abs=1e-5)


def test_random_rotate_and_choice_rotate():
    np.random.seed(0)
    random_rotate = TRANSFORMS.build(
        dict(type='RandomRotate', prob=1.0, angle_range=20))
    for _ in range(5):
        results = make_results(4)
        before = results['gt_bboxes'].tensor[:, 4].clone()
        out = random_rotate(results)
        angle = out['rotate_angle']
        assert -20 <= angle <= 20
        np.testing.assert_allclose(
            out['gt_bboxes'].tensor[:, 4],
            before + math.radians(angle),
            atol=1e-5)
    never = TRANSFORMS.build(dict(type='RandomRotate', prob=0.0))
    assert 'rotate_angle' not in never(make_results(4))
    rect_rotate = TRANSFORMS.build(
        dict(type='RandomRotate', prob=1.0, rect_obj_labels=[0]))
    for _ in range(5):
        assert rect_rotate(make_results(4))['rotate_angle'] in (90, 180, -90,
                                                                -180)
    choice = TRANSFORMS.build(
        dict(type='RandomChoiceRotate', angles=[30, 60], prob=[0.5, 0.5]))
    seen = {choice(make_results(3))['rotate_angle'] for _ in range(12)}
    assert seen <= {30.0, 60.0} and len(seen) == 2
    with pytest.raises(ValueError, match='probabilities'):
        TRANSFORMS.build(
            dict(type='RandomChoiceRotate', angles=[30], prob=[1.5]))


def test_convert_box_type():
    quad = np.array([[10, 10, 50, 10, 50, 30, 10, 30]], np.float32)
    results = dict(gt_bboxes=QuadriBoxes(quad))
    out = TRANSFORMS.build(
        dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')))(
            results)
    assert isinstance(out['gt_bboxes'], RotatedBoxes)
    assert same_polygon(
        np_corners(out['gt_bboxes'].tensor[0].numpy()), quad.reshape(4, 2))
    with pytest.raises(TypeError, match='gt_bboxes'):
        TRANSFORMS.build(
            dict(
                type='ConvertBoxType',
                box_type_mapping=dict(gt_bboxes='rbox')))(
                    dict(gt_bboxes=quad))


def test_mmdet_resize_flip_pack_on_rotated_boxes():
    results = make_results(4)
    boxes = results['gt_bboxes'].tensor.numpy().copy()
    resize = TRANSFORMS.build(
        dict(type='mmdet.Resize', scale=(320, 240), keep_ratio=True))
    out = resize(results)
    assert out['img'].shape == (240, 320, 4)
    sx, sy = out['scale_factor']
    for box, moved in zip(boxes, out['gt_bboxes'].tensor.numpy()):
        assert same_polygon(
            np_corners(moved), np_corners(box) * [sx, sy], tol=1e-3)

    for direction in ('horizontal', 'vertical', 'diagonal'):
        res = make_results(4)
        flip = TRANSFORMS.build(
            dict(type='mmdet.RandomFlip', prob=1.0, direction=direction))
        flipped = flip(res)
        for box, moved in zip(boxes, flipped['gt_bboxes'].tensor.numpy()):
            corners = np_corners(box)
            if direction in ('horizontal', 'diagonal'):
                corners[:, 0] = 160 - corners[:, 0]
            if direction in ('vertical', 'diagonal'):
                corners[:, 1] = 120 - corners[:, 1]
            assert same_polygon(np_corners(moved), corners)

    res = make_results(4)
    res['img_id'] = 0
    res['img_path'] = 'x.png'
    res['scale_factor'] = (1.0, 1.0)
    res['flip'] = False
    res['flip_direction'] = None
    packed = TRANSFORMS.build(dict(type='mmdet.PackDetInputs'))(res)
    assert packed['inputs'].shape == (4, 120, 160)
    bboxes = packed['data_samples'].gt_instances.bboxes
    assert isinstance(bboxes, RotatedBoxes) and len(bboxes) == 2


def test_rotate_horizontal_boxes_and_bad_args():
    results = make_results(3)
    results['gt_bboxes'] = HorizontalBoxes(
        torch.tensor([[40., 40., 80., 60.]]))
    results['gt_bboxes_labels'] = np.array([0])
    results['gt_ignore_flags'] = np.array([False])
    out = TRANSFORMS.build(dict(type='Rotate', angle=90))(results)
    corners = rotate_points(
        np.array([[40., 40.], [80., 40.], [80., 60.], [40., 60.]]), 90,
        (120, 160))
    np.testing.assert_allclose(
        out['gt_bboxes'].tensor[0].numpy(), [*corners.min(0), *corners.max(0)],
        atol=1e-4)
    with pytest.raises(ValueError, match='interpolation'):
        TRANSFORMS.build(dict(type='Rotate', angle=1, interpolation='cubic'))


def test_mmdet_pad_and_random_crop_on_rotated_boxes():
    results = make_results(4)
    boxes = results['gt_bboxes'].tensor.clone()
    padded = TRANSFORMS.build(dict(type='mmdet.Pad', size=(192, 256)))(results)
    assert padded['img'].shape == (256, 192, 4)
    assert torch.equal(padded['gt_bboxes'].tensor, boxes)

    np.random.seed(1)
    results = make_results(4)
    source = results['img'].copy()
    crop = TRANSFORMS.build(
        dict(
            type='mmdet.RandomCrop',
            crop_size=(90, 100),
            allow_negative_crop=True))
    out = crop(results)
    cropped = out['img']
    assert cropped.shape[:2] == (100, 90)
    # locate the crop window in the source image
    (oy, ox), = [(y, x) for y in range(120 - 100 + 1)
                 for x in range(160 - 90 + 1)
                 if np.array_equal(source[y:y + 100, x:x + 90], cropped)]
    moved = boxes.clone()
    moved[:, :2] -= torch.tensor([ox, oy], dtype=moved.dtype)
    inside = (moved[:, 0] >= 0) & (moved[:, 0] < 90) & (moved[:, 1] >= 0) & (
        moved[:, 1] < 100)
    # boxes are translated whole (not clipped); centres outside are dropped
    assert out['gt_bboxes_labels'].tolist() == torch.nonzero(
        inside).flatten().tolist()
    assert torch.allclose(out['gt_bboxes'].tensor, moved[inside])
