"""RotLocalVisualizer draws rotated boxes where their corners are."""
import math

import cv2
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmosar.registry import VISUALIZERS
from mmosar.structures.bbox import RotatedBoxes
from mmosar.visualization.rotated_visualizer import modality_panels

BOX = [60.0, 50.0, 60.0, 24.0, math.radians(30)]


def corners_of(box):
    cx, cy, w, h, t = box
    u = np.array([math.cos(t), math.sin(t)]) * w / 2
    v = np.array([-math.sin(t), math.cos(t)]) * h / 2
    return np.array([[cx, cy] - u - v, [cx, cy] + u - v, [cx, cy] + u + v,
                     [cx, cy] - u + v])


def make_sample(with_pred=True, meta=None):
    sample = DetDataSample(metainfo=meta or {})
    sample.gt_instances = InstanceData(
        bboxes=RotatedBoxes(torch.tensor([BOX])), labels=torch.tensor([1]))
    if with_pred:
        sample.pred_instances = InstanceData(
            bboxes=torch.tensor([BOX, [20., 20., 5., 5., 0.]]),
            labels=torch.tensor([1, 0]),
            scores=torch.tensor([0.9, 0.1]))
    return sample


def build_visualizer(name):
    visualizer = VISUALIZERS.build(
        dict(
            type='RotLocalVisualizer',
            name=name,
            bbox_color=(255, 0, 0),
            line_width=2,
            alpha=1.0))
    visualizer.dataset_meta = dict(classes=('ship', 'plane'))
    return visualizer


def red_on_edge(drawn, box, x_offset=0):
    """Whether the midpoints of the box edges are drawn red."""
    corners = corners_of(box)
    hits = 0
    for a, b in zip(corners, np.roll(corners, -1, axis=0)):
        x, y = ((a + b) / 2).round().astype(int)
        patch = drawn[y - 2:y + 3, x + x_offset - 2:x + x_offset + 3]
        hits += bool(((patch[..., 0] > 150) & (patch[..., 1] < 100)).any())
    return hits == 4


def test_draws_rotated_gt_and_pred(tmp_path):
    visualizer = build_visualizer('rot_vis_rgb')
    image = np.zeros((100, 120, 3), np.uint8)
    out_file = tmp_path / 'drawn.png'
    visualizer.add_datasample(
        'sample', image, make_sample(), out_file=str(out_file))
    drawn = cv2.imread(str(out_file))[..., ::-1]
    assert drawn.shape == (100, 240, 3)  # gt | pred
    assert red_on_edge(drawn, BOX) and red_on_edge(drawn, BOX, 120)
    # the low-score prediction is filtered (pred_score_thr=0.3)
    assert drawn[14:27, 134:147].max() == 0
    # away from the boxes and labels the image is untouched
    assert drawn[90:, :30].max() == 0


def test_multiband_image_becomes_modality_panels(tmp_path):
    visualizer = build_visualizer('rot_vis_paired')
    image = np.zeros((100, 120, 4), np.float32)
    out_file = tmp_path / 'paired.png'
    visualizer.add_datasample(
        'pair',
        image,
        make_sample(
            with_pred=False, meta=dict(modality_channels=dict(opt=3, sar=1))),
        draw_pred=False,
        out_file=str(out_file))
    drawn = cv2.imread(str(out_file))[..., ::-1]
    assert drawn.shape == (100, 240, 3)  # optical | SAR
    assert red_on_edge(drawn, BOX) and red_on_edge(drawn, BOX, 120)


def test_modality_panels_split():
    image = np.arange(2 * 2 * 6, dtype=np.uint8).reshape(2, 2, 6)
    panels = modality_panels(image, dict(opt=3, sar=2, extra=1))
    assert [p.shape for p in panels] == [(2, 2, 3)] * 3
    np.testing.assert_array_equal(panels[0], image[..., :3])
    assert len(modality_panels(image)) == 2
    try:
        modality_panels(image, dict(opt=3, sar=1))
    except ValueError as error:
        assert '6 channels' in str(error)
    else:
        raise AssertionError('a wrong modality split must raise')
