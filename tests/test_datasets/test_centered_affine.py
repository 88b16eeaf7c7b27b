"""RandomCenteredAffine (Ultralytics RandomPerspective), box_candidates,
the release's box encoding and RotatedBoxes.clip_, against hand-worked
geometry, OpenCV 4.10 values and shapely."""
import copy
import math

import numpy as np
import pytest
import torch
from shapely.geometry import Polygon
from shapely.geometry import box as shapely_box

from mmosar.datasets.transforms.rotated import (
    box_candidates,
    min_area_rects,
    resample_polygons,
)
from mmosar.registry import TRANSFORMS
from mmosar.structures.bbox import QuadriBoxes, RotatedBoxes, rbox2corners


def build(cfg):
    return TRANSFORMS.build(cfg)


def qboxes(*boxes):
    return QuadriBoxes(np.asarray(boxes, dtype=np.float32).reshape(-1, 8))


def sample(img, boxes):
    return dict(
        img=img,
        img_shape=img.shape[:2],
        gt_bboxes=boxes,
        gt_bboxes_labels=np.arange(len(boxes)),
        gt_ignore_flags=np.zeros(len(boxes), dtype=bool))


def polygon_of(rbox):
    return Polygon(rbox2corners(torch.as_tensor(rbox).double()).numpy())


def test_resample_polygons_hand_worked():
    square = np.array([[[0, 0], [4, 0], [4, 4], [0, 4]]])
    expected = [[0, 0], [2, 0], [4, 0], [4, 2], [4, 4], [2, 4], [0, 4],
                [0, 2], [0, 0]]
    np.testing.assert_allclose(resample_polygons(square, 9)[0], expected)


def test_box_candidates_hand_worked():
    before = np.array([[0, 0, 10, 10]] * 4 + [[0, 0, 1000, 10]], float)
    after = np.array([
        [0, 0, 10, 10],  # unchanged: kept
        [0, 0, 2, 10],  # width 2, not > 2: dropped
        [0, 0, 3, 3],  # area ratio 0.09
        [0, 0, 3, 10],  # area ratio 0.3
        [0, 0, 1000, 9.99],  # aspect ratio 100.1
    ])
    np.testing.assert_array_equal(
        box_candidates(before, after), [True, False, False, True, False])
    np.testing.assert_array_equal(
        box_candidates(before, after, min_area_ratio=0.01),
        [True, False, True, True, False])


def test_centred_crop_hand_worked():
    """No zoom, no offset: M = T C, i.e. x' = x - W/2 + W'/2."""
    rng = np.random.RandomState(0)
    img = rng.randint(0, 255, (100, 120, 6)).astype(np.uint8)
    boxes = qboxes([40, 40, 60, 40, 60, 50, 40, 50])
    out = build(
        dict(
            type='RandomCenteredAffine',
            translate=0.0,
            scale=0.0,
            output_size=(60, 40)))(sample(img, boxes))
    # (x, y) -> (x - 60 + 30, y - 50 + 20)
    np.testing.assert_array_equal(out['img'], img[30:70, 30:90])
    assert out['img_shape'] == (40, 60)
    # axis-aligned 20 x 10 box centred at (50, 45) -> (20, 15); the
    # release's encoding of an axis-aligned box: t = pi/2, w = height
    np.testing.assert_allclose(
        out['gt_bboxes'].tensor.numpy(), [[20, 15, 10, 20, math.pi / 2]],
        atol=1e-4)


@pytest.mark.parametrize('seed', range(4))
def test_zoom_is_about_the_input_centre(seed):
    """Without translation the input centre lands on the output centre for
    any zoom, and the box keeps its aspect (zoom in [0.5, 1.5])."""
    img = np.full((64, 64, 4), 20, dtype=np.uint8)
    img[22:42, 27:37] = 250  # 20 rows x 10 columns around (32, 32)
    boxes = qboxes([27, 22, 37, 22, 37, 42, 27, 42])
    np.random.seed(seed)
    out = build(
        dict(type='RandomCenteredAffine', translate=0.0,
             scale=0.5))(sample(img, boxes))
    (cx, cy, w, h, t), = out['gt_bboxes'].tensor.numpy()
    np.testing.assert_allclose([cx, cy], [32, 32], atol=1e-3)
    # long side (20 px) is vertical: w = 20 s along t = pi / 2
    assert t == pytest.approx(math.pi / 2)
    assert w == pytest.approx(2 * h, rel=1e-4) and 10 <= w <= 30
    ys, xs = np.nonzero(out['img'][..., 0] > 135)
    assert abs(xs.mean() - 31.5) < 1 and abs(ys.mean() - 31.5) < 1


def test_release_clip_and_filter_hand_worked():
    """Identity warp: box outlines resampled at 100 points (spacing 4/99 of
    the perimeter parameter, i.e. ``(a + b) * 4 / 99`` px along a side of
    length ``a + b``), clamped to the extent of the points inside, refitted
    and filtered with the release's oriented-box area ratio 0.01."""
    img = np.zeros((100, 100, 6), dtype=np.uint8)
    boxes = qboxes(
        # side 24.75 px: samples at x = -5.5 + k, first inside at 0.5
        [-5.5, 40, 19.25, 40, 19.25, 50, -5.5, 50],
        [20, 20, 40, 20, 40, 30, 20, 30],  # inside: unchanged
        # side 99 px: samples at x = -94 + 4k, first inside at 2; the
        # visible 3 x 100 is 0.03 of the 99 x 100 box
        [-94, 0, 5, 0, 5, 100, -94, 100],
        # samples at x = -98 + 4k miss [0, 1]: only x = 1 is inside
        [-98, 0, 1, 0, 1, 100, -98, 100],
        [-40, -40, -20, -40, -20, -20, -40, -20])  # outside
    expected = [(0.5, 40, 19.25, 50), (20, 20, 40, 30), (2, 0, 5, 100)]
    for ratio, kept in ((0.01, [0, 1, 2]), (0.1, [0, 1])):
        out = build(
            dict(
                type='RandomCenteredAffine',
                translate=0.0,
                scale=0.0,
                min_area_ratio=ratio))(sample(img, boxes))
        assert out['gt_bboxes_labels'].tolist() == kept
        for rbox, k in zip(out['gt_bboxes'].tensor, kept):
            # OpenCV encodes an upright box with t = pi/2 or (some clipped
            # outlines) t = 0
            assert float(rbox[4]) in (0.0, pytest.approx(math.pi / 2))
            difference = polygon_of(rbox).symmetric_difference(
                shapely_box(*expected[k]))
            assert difference.area < 1e-3


def test_release_clip_of_rotated_box_against_shapely():
    """A diamond cut in half by the left border becomes the minimum-area
    rectangle of its visible half (shapely), up to the 100-point outline."""
    img = np.zeros((100, 100, 3), dtype=np.uint8)
    diamond = [0, 30, 20, 50, 0, 70, -20, 50]
    out = build(
        dict(type='RandomCenteredAffine', translate=0.0,
             scale=0.0))(sample(img, qboxes(diamond)))
    result = polygon_of(out['gt_bboxes'].tensor[0])
    visible = Polygon(np.reshape(diamond, (4, 2))).intersection(
        shapely_box(0, 0, 100, 100))
    expected = visible.minimum_rotated_rectangle
    assert result.area == pytest.approx(expected.area, rel=0.03)
    assert result.buffer(0.5).contains(visible)


def test_warp_fill_per_band():
    """One fill for every band, or one per band (the release's OpenCV fill
    of a 6-band image is (114, 114, 114, 0, 114, 114))."""
    img = np.full((32, 32, 6), 7, dtype=np.uint8)
    for fill, expected in ((114, [114] * 6),
                           ((114, 114, 114, 0, 114, 114),
                            [114, 114, 114, 0, 114, 114])):
        out = build(
            dict(
                type='RandomCenteredAffine',
                translate=0.0,
                scale=0.0,
                output_size=(64, 64),
                border_val=fill))(sample(img.copy(), qboxes()))
        assert out['img'][0, 0].tolist() == expected
        assert out['img'][32, 32].tolist() == [7] * 6
    with pytest.raises(ValueError, match='one per band'):
        build(dict(type='RandomCenteredAffine', border_val=(114, 114)))(
            sample(img.copy(), qboxes()))


def test_min_area_rects_use_the_released_opencv_encoding():
    """Values cv2.minAreaRect returns in OpenCV 4.10.0 (the release's pin),
    whatever OpenCV is installed."""
    polygons = np.array([[[0, 0], [10, 0], [10, 5], [0, 5]],
                         [[0, 0], [10, 1], [9, 6], [-1, 5]],
                         [[0, 0], [10, -1], [11, 4], [1, 5]]], np.float32)
    expected = [[5.0, 2.5, 5.0, 10.0, 90.0],
                [4.5, 3.0, 10.547394, 5.074689, 5.710592],
                [5.5, 2.0, 5.074689, 10.547394, 84.289406]]
    rects = min_area_rects(polygons).numpy()
    rects[:, 4] *= 180 / math.pi
    np.testing.assert_allclose(rects, expected, atol=1e-4)


def test_regularize_to_the_released_encoding_after_flip():
    rng = np.random.RandomState(1)
    boxes = RotatedBoxes(
        np.c_[rng.uniform(20, 80, (8, 2)),
              rng.uniform(2, 30, (8, 2)),
              rng.uniform(-4, 4, 8)].astype(np.float32))
    flipped = boxes.clone()
    flipped.flip_((100, 100), 'horizontal')
    out = build(dict(type='RegularizeRotatedBoxes'))(
        dict(gt_bboxes=flipped.clone()))['gt_bboxes'].tensor
    assert ((out[:, 4] >= 0) & (out[:, 4] <= math.pi / 2 + 1e-6)).all()
    for before, after in zip(flipped.tensor, out):
        a, b = polygon_of(before), polygon_of(after)
        assert a.symmetric_difference(b).area < 1e-3 * a.area


def test_rotated_boxes_clip_against_shapely():
    """clip_: minimum-area rectangle of the exact intersection with the
    image (shapely), boxes inside unchanged, boxes outside zero-sized."""
    rng = np.random.RandomState(2)
    data = np.c_[rng.uniform(-20, 80, (40, 2)),
                 rng.uniform(4, 40, (40, 2)),
                 rng.uniform(-3, 3, 40)]
    data[0] = (-50, -50, 10, 10, 0.3)  # wholly outside
    boxes = RotatedBoxes(torch.from_numpy(data))
    clipped = boxes.clone()
    clipped.clip_((50, 60))  # H, W
    image = shapely_box(0, 0, 60, 50)
    for before, after in zip(boxes.tensor, clipped.tensor):
        visible = polygon_of(before).intersection(image)
        if polygon_of(before).within(image):
            assert torch.equal(before, after)
        elif visible.area == 0:
            assert after[2] == after[3] == 0
            assert 0 <= after[0] <= 60 and 0 <= after[1] <= 50
        else:
            result = polygon_of(after)
            assert result.area == pytest.approx(
                visible.minimum_rotated_rectangle.area, rel=1e-6)
            assert result.buffer(1e-6).contains(visible)


def test_mosaic_and_affine_move_boxes_with_every_band():
    """Mosaic + centred affine: every kept box sits on its marker, and the
    marker is there in all six bands."""
    rng = np.random.RandomState(5)

    def marked(size=64):
        img = rng.randint(0, 100, (size, size, 6)).astype(np.uint8)
        cx, cy = rng.randint(12, size - 12, 2)
        img[cy - 4:cy + 5, cx - 4:cx + 5] = 250
        return sample(img, RotatedBoxes([[cx, cy, 8.0, 6.0, 0.4]]))

    kept = 0
    for seed in range(6):
        samples = [marked() for _ in range(4)]
        results = dict(copy.deepcopy(samples[0]), mix_results=samples[1:])
        np.random.seed(seed)
        results = build(
            dict(type='PairedMosaic', img_scale=(64, 64),
                 bbox_clip_border=False))(results)
        results = build(
            dict(
                type='RandomCenteredAffine',
                border=(-32, -32),
                clip_input=True))(results)
        assert results['img'].shape == (64, 64, 6)
        for cx, cy in results['gt_bboxes'].tensor[:, :2].numpy():
            pixel = results['img'][int(cy), int(cx)]
            assert (pixel > 200).all(), (seed, cx, cy, pixel)
            kept += 1
    assert kept >= 6
