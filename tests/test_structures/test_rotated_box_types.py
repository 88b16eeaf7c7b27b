"""RotatedBoxes / QuadriBoxes / converters / angle conventions against
numpy corner transforms, cv2 and shapely."""
import math

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes, convert_box_type
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from rbox_reference import np_corners, same_polygon
from shapely.geometry import Point, Polygon

from mmosar.structures.bbox import (
    QuadriBoxes,
    RotatedBoxes,
    hbox2rbox,
    norm_angle,
    qbox2hbox,
    qbox2rbox,
    rbox2hbox,
    rbox2qbox,
    regularize_rboxes,
)


def random_rboxes(num=50, seed=0):
    rng = np.random.default_rng(seed)
    boxes = np.stack([
        rng.uniform(20, 180, num),
        rng.uniform(20, 180, num),
        rng.uniform(5, 60, num),
        rng.uniform(5, 60, num),
        rng.uniform(-4, 4, num)
    ], 1)
    return torch.from_numpy(boxes)


def assert_boxes_are_polygons(boxes: RotatedBoxes, polygons, tol=1e-6):
    for box, polygon in zip(boxes.tensor.numpy(), polygons):
        assert same_polygon(np_corners(box), polygon, tol)


def test_hand_worked_angle_conventions():
    deg = math.pi / 180
    boxes = torch.tensor([[0, 0, 10, 5, 100 * deg], [0, 0, 5, 10, 10 * deg]],
                         dtype=torch.float64)
    expected = {
        'le90': [[0, 0, 10, 5, -80 * deg], [0, 0, 10, 5, -80 * deg]],
        'le135': [[0, 0, 10, 5, 100 * deg], [0, 0, 10, 5, 100 * deg]],
        'oc': [[0, 0, 10, 5, -80 * deg], [0, 0, 10, 5, -80 * deg]],
    }
    for pattern, values in expected.items():
        got = RotatedBoxes(boxes).regularize_boxes(pattern)
        np.testing.assert_allclose(got.numpy(), values, atol=1e-9)
    # oc keeps the short side first when that gives t in [-90, 0)
    got = regularize_rboxes(torch.tensor([[0., 0., 5., 10., -30 * deg]]), 'oc')
    np.testing.assert_allclose(
        got.numpy(), [[0, 0, 5, 10, -30 * deg]], atol=1e-6)
    assert math.isclose(norm_angle(100 * deg, 'le90'), -80 * deg)
    assert math.isclose(norm_angle(-100 * deg, 'le135'), 80 * deg)
    assert math.isclose(norm_angle(200 * deg, 'r360'), -160 * deg)
    with pytest.raises(ValueError, match='le45'):
        norm_angle(0.0, 'le45')


@pytest.mark.parametrize('pattern', ['oc', 'le90', 'le135'])
def test_regularize_and_qbox_round_trip(pattern):
    boxes = random_rboxes(200)
    regular = regularize_rboxes(boxes, pattern)
    t = regular[:, 4]
    low = {'oc': -90, 'le90': -90, 'le135': -45}[pattern] * math.pi / 180
    high = low + (math.pi / 2 if pattern == 'oc' else math.pi)
    assert ((t >= low) & (t < high)).all()
    if pattern != 'oc':
        assert (regular[:, 2] >= regular[:, 3]).all()
    # same rectangles
    assert_boxes_are_polygons(
        RotatedBoxes(regular), [np_corners(b) for b in boxes.numpy()])
    # rbox -> qbox -> rbox gives the same parameters in the convention
    back = regularize_rboxes(qbox2rbox(rbox2qbox(boxes)), pattern)
    inner = ((t - low).abs() > 1e-6) & ((t - high).abs() > 1e-6) & (
        (boxes[:, 2] - boxes[:, 3]).abs() > 1e-3)
    np.testing.assert_allclose(
        back[inner].numpy(), regular[inner].numpy(), atol=1e-6)


def test_qbox2rbox_is_the_minimum_area_rectangle():
    rng = np.random.default_rng(1)
    quads = rng.uniform(0, 100, (300, 8))
    rboxes = qbox2rbox(torch.from_numpy(quads))
    for quad, rbox in zip(quads, rboxes.numpy()):
        points = quad.reshape(4, 2).astype(np.float32)
        (_, _), (cw, ch), _ = cv2.minAreaRect(points)
        assert rbox[2] * rbox[3] == pytest.approx(cw * ch, rel=1e-3)
        fitted = Polygon(np_corners(rbox)).buffer(1e-6)
        assert all(fitted.covers(Point(p)) for p in quad.reshape(4, 2))


def test_converters_registered_and_consistent():
    boxes = random_rboxes(20)
    rboxes = RotatedBoxes(boxes)
    hboxes = rboxes.convert_to('hbox')
    qboxes = rboxes.convert_to('qbox')
    assert isinstance(hboxes, HorizontalBoxes)
    assert isinstance(qboxes, QuadriBoxes)
    for box, hbox in zip(boxes.numpy(), hboxes.tensor.numpy()):
        np.testing.assert_allclose(
            Polygon(np_corners(box)).bounds, hbox, atol=1e-6)
    np.testing.assert_allclose(
        qbox2hbox(qboxes.tensor).numpy(), hboxes.tensor.numpy(), atol=1e-9)
    np.testing.assert_allclose(
        rbox2hbox(boxes).numpy(), hboxes.tensor.numpy(), atol=1e-9)
    hbox = torch.tensor([[10., 20., 50., 40.]])
    np.testing.assert_allclose(hbox2rbox(hbox).numpy(), [[30, 30, 40, 20, 0]])
    back = HorizontalBoxes(hbox).convert_to('qbox').convert_to('rbox')
    assert same_polygon(
        np_corners(back.tensor[0].numpy()),
        [[10, 20], [50, 20], [50, 40], [10, 40]])
    as_numpy = convert_box_type(
        boxes.numpy(), src_type='rbox', dst_type='qbox')
    assert isinstance(as_numpy, np.ndarray) and as_numpy.shape == (20, 8)


@pytest.mark.parametrize('direction', ['horizontal', 'vertical', 'diagonal'])
def test_flip_matches_corner_flip(direction):
    img_h, img_w = 150, 200
    boxes = RotatedBoxes(random_rboxes(30))
    qboxes = boxes.convert_to('qbox')
    corners = np.stack([np_corners(b) for b in boxes.tensor.numpy()])
    if direction in ('horizontal', 'diagonal'):
        corners[..., 0] = img_w - corners[..., 0]
    if direction in ('vertical', 'diagonal'):
        corners[..., 1] = img_h - corners[..., 1]
    boxes.flip_((img_h, img_w), direction)
    qboxes.flip_((img_h, img_w), direction)
    assert_boxes_are_polygons(boxes, corners)
    np.testing.assert_allclose(qboxes.points.numpy(), corners, atol=1e-9)


@pytest.mark.parametrize('angle', [30.0, -75.0, 90.0])
def test_rotate_matches_cv2_rotation_matrix(angle):
    center = (90.0, 60.0)
    boxes = RotatedBoxes(random_rboxes(30))
    qboxes = boxes.convert_to('qbox')
    # mmdet / mmcv: positive angle = clockwise in the image
    matrix = cv2.getRotationMatrix2D(center, -angle, 1.0)
    corners = np.stack([np_corners(b) for b in boxes.tensor.numpy()])
    expected = corners @ matrix[:, :2].T + matrix[:, 2]
    original_t = boxes.tensor[:, 4].clone()
    boxes.rotate_(center, angle)
    qboxes.rotate_(center, angle)
    assert_boxes_are_polygons(boxes, expected)
    np.testing.assert_allclose(qboxes.points.numpy(), expected, atol=1e-9)
    np.testing.assert_allclose(boxes.tensor[:, 4].numpy(),
                               (original_t + math.radians(angle)).numpy())


def test_translate_rescale_resize_match_corner_transforms():
    base = random_rboxes(30)
    corners = np.stack([np_corners(b) for b in base.numpy()])

    boxes = RotatedBoxes(base)
    boxes.translate_((5.0, -7.0))
    assert_boxes_are_polygons(boxes, corners + [5.0, -7.0])
    qboxes = RotatedBoxes(base).convert_to('qbox')
    qboxes.translate_((5.0, -7.0))
    np.testing.assert_allclose(qboxes.points.numpy(), corners + [5, -7])

    boxes = RotatedBoxes(base)
    boxes.rescale_((1.5, 1.5))
    assert_boxes_are_polygons(boxes, corners * 1.5)
    np.testing.assert_allclose(boxes.tensor[:, 4], base[:, 4])

    # anisotropic: minimum-area rectangle of the scaled corners
    boxes = RotatedBoxes(base)
    boxes.rescale_((2.0, 0.5))
    scaled = corners * [2.0, 0.5]
    for box, points in zip(boxes.tensor.numpy(), scaled):
        (_, _), (cw, ch), _ = cv2.minAreaRect(points.astype(np.float32))
        assert box[2] * box[3] == pytest.approx(cw * ch, rel=1e-3)
        fitted = Polygon(np_corners(box)).buffer(1e-6)
        assert all(fitted.covers(Point(p)) for p in points)
    qboxes = RotatedBoxes(base).convert_to('qbox')
    qboxes.rescale_((2.0, 0.5))
    np.testing.assert_allclose(qboxes.points.numpy(), scaled)

    boxes = RotatedBoxes(base)
    boxes.resize_((2.0, 2.0))
    centers = corners.mean(1, keepdims=True)
    assert_boxes_are_polygons(boxes, (corners - centers) * 2 + centers)
    qboxes = RotatedBoxes(base).convert_to('qbox')
    qboxes.resize_((2.0, 2.0))
    np.testing.assert_allclose(
        qboxes.points.numpy(), (corners - centers) * 2 + centers, atol=1e-9)


def test_project_matches_corner_projection():
    base = random_rboxes(20)
    homography = np.array([[1.1, 0.1, 5], [-0.05, 0.9, -3], [1e-4, 2e-4, 1]])
    corners = np.stack([np_corners(b) for b in base.numpy()])
    homo = np.concatenate([corners, np.ones((20, 4, 1))], -1) @ homography.T
    projected = homo[..., :2] / homo[..., 2:]
    qboxes = RotatedBoxes(base).convert_to('qbox')
    qboxes.project_(homography)
    np.testing.assert_allclose(qboxes.points.numpy(), projected, atol=1e-6)
    boxes = RotatedBoxes(base)
    boxes.project_(homography)
    for box, points in zip(boxes.tensor.numpy(), projected):
        (_, _), (cw, ch), _ = cv2.minAreaRect(points.astype(np.float32))
        assert box[2] * box[3] == pytest.approx(cw * ch, rel=1e-3)
    # a pure rotation + translation keeps the rectangle exactly
    rigid = np.vstack([cv2.getRotationMatrix2D((50, 50), 20, 1), [0, 0, 1]])
    boxes = RotatedBoxes(base)
    boxes.project_(rigid)
    expected = corners @ rigid[:2, :2].T + rigid[:2, 2]
    assert_boxes_are_polygons(boxes, expected)


def test_areas_inside_points_and_is_inside():
    base = random_rboxes(10)
    boxes = RotatedBoxes(base)
    qboxes = boxes.convert_to('qbox')
    polygons = [Polygon(np_corners(b)) for b in base.numpy()]
    np.testing.assert_allclose(boxes.areas.numpy(), [p.area for p in polygons])
    np.testing.assert_allclose(qboxes.areas.numpy(),
                               [p.area for p in polygons])
    rng = np.random.default_rng(2)
    points = rng.uniform(0, 200, (300, 2))
    expected = np.array([[p.contains(Point(x)) for p in polygons]
                         for x in points])
    got = boxes.find_inside_points(torch.from_numpy(points))
    np.testing.assert_array_equal(got.numpy(), expected)
    np.testing.assert_array_equal(
        qboxes.find_inside_points(torch.from_numpy(points)).numpy(), expected)
    aligned = boxes.find_inside_points(
        torch.from_numpy(points[:10]), is_aligned=True)
    np.testing.assert_array_equal(aligned.numpy(), expected[np.arange(10),
                                                            np.arange(10)])

    img_shape = (100, 120)
    inside_center = boxes.is_inside(img_shape).numpy()
    cx, cy = base[:, 0].numpy(), base[:, 1].numpy()
    np.testing.assert_array_equal(inside_center, (cx >= 0) & (cx < 120) &
                                  (cy >= 0) & (cy < 100))
    all_inside = boxes.is_inside(img_shape, all_inside=True).numpy()
    frame = Polygon([(0, 0), (120, 0), (120, 100), (0, 100)])
    np.testing.assert_array_equal(all_inside,
                                  [frame.contains(p) for p in polygons])
    np.testing.assert_array_equal(
        qboxes.is_inside(img_shape, all_inside=True).numpy(), all_inside)


def test_clip_and_overlaps_members():
    base = random_rboxes(8)
    boxes = RotatedBoxes(base)
    inside = boxes.is_inside((50, 50), all_inside=True)
    boxes.clip_((50, 50))
    # boxes inside are kept; the others are cut to the image (exactly:
    # tests/test_datasets/test_centered_affine.py, against shapely)
    assert torch.equal(boxes.tensor[inside], base[inside])
    assert (boxes.areas[~inside] < RotatedBoxes(base).areas[~inside]).all()
    qboxes = RotatedBoxes(base).convert_to('qbox')
    qboxes.clip_((50, 60))
    assert (qboxes.points[..., 0] <= 60).all()
    assert (qboxes.points[..., 1] <= 50).all()
    ious = RotatedBoxes.overlaps(
        RotatedBoxes(base),
        RotatedBoxes(base).convert_to('qbox'))
    assert ious.shape == (8, 8)
    np.testing.assert_allclose(torch.diagonal(ious).numpy(), 1, atol=1e-4)
    q_ious = QuadriBoxes.overlaps(
        RotatedBoxes(base).convert_to('qbox'), RotatedBoxes(base))
    np.testing.assert_allclose(q_ious.numpy(), ious.numpy(), atol=1e-4)


def test_from_instance_masks():
    box = np.array([60.0, 50.0, 50.0, 16.0, math.radians(30)])
    bitmap = np.zeros((1, 100, 120), np.uint8)
    # pixel (i, j) covers [i, i + 1) x [j, j + 1): index coords = xy - 0.5
    cv2.fillPoly(bitmap[0], [np.round(np_corners(box) - 0.5).astype(np.int32)],
                 1)
    fitted = RotatedBoxes.from_instance_masks(BitmapMasks(
        bitmap, 100, 120)).tensor[0].numpy()
    assert abs(fitted[0] - box[0]) < 1 and abs(fitted[1] - box[1]) < 1
    # whole border pixels are included: up to about 1.4 px per side
    assert 0 <= fitted[2] - box[2] < 3 and 0 <= fitted[3] - box[3] < 3
    one_pixel = np.zeros((1, 5, 5), np.uint8)
    one_pixel[0, 2, 3] = 1
    np.testing.assert_allclose(
        RotatedBoxes.from_instance_masks(BitmapMasks(one_pixel, 5,
                                                     5)).tensor[0, :4],
        [3.5, 2.5, 1, 1])
    assert abs(fitted[4] - box[4]) < math.radians(3)

    polygon = PolygonMasks([[np_corners(box).flatten()]], 100, 120)
    qbox = QuadriBoxes.from_instance_masks(polygon)
    assert same_polygon(qbox.points[0].numpy(), np_corners(box))
    empty = RotatedBoxes.from_instance_masks(
        BitmapMasks(np.zeros((1, 10, 10), np.uint8), 10, 10))
    assert torch.equal(empty.tensor, torch.zeros(1, 5))
