"""PairedDetLocalVisualizer: optical | SAR panels with the same boxes."""
import cv2
import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmosar.registry import VISUALIZERS
from mmosar.structures.bbox import RotatedBoxes

H, W = 32, 40


def make_sample(tmp_path, rng):
    optical_bgr = rng.randint(0, 256, (H, W, 3)).astype(np.uint8)
    sar = rng.randint(0, 256, (H, W)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'opt.png'), optical_bgr)
    cv2.imwrite(str(tmp_path / 'sar.png'), sar)
    data_sample = DetDataSample()
    data_sample.set_metainfo(
        dict(
            img_path=str(tmp_path / 'opt.png'),
            sar_path=str(tmp_path / 'sar.png'),
            modality_channels=dict(optical=3, sar=1)))
    data_sample.gt_instances = InstanceData(
        bboxes=RotatedBoxes(torch.tensor([[10.0, 10.0, 8.0, 4.0, 0.3]])),
        labels=torch.tensor([2]))
    data_sample.pred_instances = InstanceData(
        bboxes=RotatedBoxes(torch.tensor([[10.0, 10.0, 8.0, 4.0, 0.3]])),
        labels=torch.tensor([2]),
        scores=torch.tensor([0.9]))
    return optical_bgr[..., ::-1].copy(), sar, data_sample


def test_optical_and_sar_side_by_side(tmp_path):
    rng = np.random.RandomState(0)
    optical_rgb, sar, data_sample = make_sample(tmp_path, rng)
    visualizer = VISUALIZERS.build(
        dict(type='PairedDetLocalVisualizer', name='test_paired_vis'))
    visualizer.dataset_meta = dict(
        classes=('bridge', 'harbor', 'oil_tank', 'playground', 'airport',
                 'wind_turbine'))
    # the optical image alone, as DetVisualizationHook passes it
    visualizer.add_datasample(
        'pair',
        optical_rgb,
        data_sample,
        draw_pred=False,
        out_file=str(tmp_path / 'gt.png'))
    drawn = visualizer.get_image()
    assert drawn.shape == (H, 2 * W, 3)
    assert (tmp_path / 'gt.png').is_file()
    # far from the box (bottom-right corner) the panels show the images
    np.testing.assert_array_equal(drawn[24:, 28:W], optical_rgb[24:, 28:])
    for c in range(3):
        np.testing.assert_array_equal(drawn[24:, W + 28:, c], sar[24:, 28:])
    # the box is drawn on both panels at the same place
    assert not np.array_equal(drawn[6:14, 4:16], optical_rgb[6:14, 4:16])
    assert not np.array_equal(drawn[6:14, W + 4:W + 16, 0], sar[6:14, 4:16])

    # the stacked pair gives the same picture; gt | pred doubles the width
    stacked = np.concatenate([optical_rgb, sar[..., None]], axis=2)
    visualizer.add_datasample('pair', stacked, data_sample, draw_pred=False)
    np.testing.assert_array_equal(visualizer.get_image(), drawn)
    visualizer.add_datasample('pair', stacked, data_sample)
    assert visualizer.get_image().shape == (H, 4 * W, 3)
