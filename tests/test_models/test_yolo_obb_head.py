"""YOLOOBBHead: decoding, DFL targets, losses, NMS and the flip round trip."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from shapely.geometry import Point

from mmosar.models.dense_heads import YOLOOBBHead, probiou_nms
from mmosar.structures.bbox import RotatedBoxes

sys.path.insert(0,
                str(Path(__file__).resolve().parents[1] / 'test_structures'))
from rbox_reference import rbox_polygon, same_polygon  # noqa: E402
from test_rotated_tal_assigner import np_probiou  # noqa: E402

IN_CHANNELS = (16, 32, 64)
STRIDES = (8, 16, 32)


def make_head(**kwargs) -> YOLOOBBHead:
    torch.manual_seed(0)
    return YOLOOBBHead(
        num_classes=3, in_channels=IN_CHANNELS, strides=STRIDES, **kwargs)


def make_eval_head() -> YOLOOBBHead:
    """Head in eval mode without the class-bias prior, so that random
    features give scores around 0.5."""
    head = make_head().eval()
    for branch in head.cls_branches:
        torch.nn.init.zeros_(branch[-1].bias)
    return head


def make_feats(batch: int = 2, size: int = 64):
    return [
        torch.randn(batch, c, size // s, size // s)
        for c, s in zip(IN_CHANNELS, STRIDES)
    ]


def np_decode(point, stride, dist_logits, angle_logit):
    """Numpy reference of YOLO-OBB decoding for one anchor."""
    logits = dist_logits.reshape(4, -1)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    left, top, right, bottom = (probs * np.arange(logits.shape[1])).sum(1) \
        * stride
    theta = (1 / (1 + np.exp(-angle_logit)) - 0.25) * np.pi
    local = np.array([(right - left) / 2, (bottom - top) / 2])
    rot = np.array([[np.cos(theta), -np.sin(theta)],
                    [np.sin(theta), np.cos(theta)]])
    cx, cy = np.asarray(point) + rot @ local
    return np.array([cx, cy, left + right, top + bottom,
                     theta]), (left, top, right, bottom)


def test_branch_widths_and_bias_priors():
    head = YOLOOBBHead(num_classes=6, in_channels=(128, 256, 512))
    # YOLO11 widths at scale s: box 64, class 128, angle 32
    assert head.box_branches[0][0].conv.out_channels == 64
    assert head.box_branches[0][-1].out_channels == 64  # 4 * reg_max
    assert head.cls_branches[0][1].conv.out_channels == 128
    assert head.cls_branches[0][0].conv.groups == 128  # depthwise
    assert head.angle_branches[0][0].conv.out_channels == 32
    assert head.angle_branches[0][-1].out_channels == 1
    for branch, stride in zip(head.cls_branches, (8, 16, 32)):
        expected = math.log(5 / 6 / (640 / stride)**2)
        assert torch.allclose(branch[-1].bias, torch.tensor(expected))
    assert (head.box_branches[1][-1].bias == 1).all()


def test_decode_matches_numpy_and_geometry():
    head = make_head()
    rng = np.random.default_rng(1)
    points = torch.tensor([[20.0, 28.0], [100.0, 60.0]])
    strides = torch.tensor([[8.0], [16.0]])
    dist = rng.normal(0, 2, (1, 2, 64)).astype(np.float32)
    angle = rng.normal(0, 1.5, (1, 2, 1)).astype(np.float32)
    boxes = head.decode(points, strides, torch.from_numpy(dist),
                        torch.from_numpy(angle))
    assert boxes.shape == (1, 2, 5)
    for a in range(2):
        ref, sides = np_decode(points[a].numpy(), strides[a, 0].item(),
                               dist[0, a], angle[0, a, 0])
        np.testing.assert_allclose(
            boxes[0, a].numpy(), ref, rtol=1e-4, atol=1e-3)
        # the anchor is inside the box, at distance min(sides) of its border
        poly = rbox_polygon(ref)
        assert poly.contains(Point(points[a].numpy()))
        assert math.isclose(
            poly.exterior.distance(Point(points[a].numpy())),
            min(sides),
            rel_tol=1e-4)
    assert ((boxes[..., 4] >= -math.pi / 4) &
            (boxes[..., 4] < 3 * math.pi / 4)).all()


@pytest.mark.parametrize('pred_offset', [0.1, math.pi / 2 - 0.2, -2.9])
def test_box_frame_dfl_targets_rebuild_the_target(pred_offset):
    """DFL targets decoded at the predicted angle's representation give back
    the ground-truth rectangle, whatever representation is predicted."""
    head = make_head()
    gt = torch.tensor([[50.0, 40.0, 60.0, 20.0, 0.4]])
    point = torch.tensor([[45.0, 38.0]])
    stride = torch.tensor([[8.0]])
    pred_angle = gt[:, 4] + pred_offset
    targets = head.dfl_targets(point, stride, gt, pred_angle)
    assert (targets >= 0).all() and (targets <= head.reg_max - 1).all()
    # the equivalent angle t + k pi/2 nearest to the prediction
    candidates = gt[0, 4].item() + np.arange(-4, 5) * math.pi / 2
    nearest = candidates[np.argmin(np.abs(candidates - pred_angle.item()))]
    rebuilt = head.bbox_coder.decode(
        point,
        torch.cat(
            [targets * stride, torch.tensor([[nearest]])], -1).float())
    assert same_polygon(
        rbox_polygon(rebuilt[0].numpy()).exterior.coords[:-1],
        rbox_polygon(gt[0].numpy()).exterior.coords[:-1])


def test_image_frame_dfl_targets_are_axis_aligned_distances():
    head = make_head(dfl_target_frame='image')
    gt = torch.tensor([[50.0, 40.0, 20.0, 60.0, 0.4]])  # h > w: kept as is
    targets = head.dfl_targets(
        torch.tensor([[45.0, 38.0]]), torch.tensor([[8.0]]), gt,
        torch.zeros(1))
    # released bbox2dist(anchor, xywh2xyxy(cx, cy, w, h)): the box
    # (40, 10)-(60, 70) with the angle ignored and w, h not swapped
    # (cv2.minAreaRect's w/h, no le90 regularisation)
    expected = torch.tensor([[45 - 40, 38 - 10, 60 - 45, 70 - 38]]) / 8
    assert torch.allclose(targets, expected.float())
    # distances beyond the last bin are clipped to reg_max - 1 - 0.01
    far = head.dfl_targets(
        torch.tensor([[200.0, 38.0]]), torch.tensor([[8.0]]), gt,
        torch.zeros(1))
    assert far[0, 0] == pytest.approx(head.reg_max - 1 - 0.01)
    assert far[0, 2] == 0


def gt_instances(boxes, labels):
    return InstanceData(
        bboxes=RotatedBoxes(torch.tensor(boxes, dtype=torch.float32)),
        labels=torch.tensor(labels, dtype=torch.long))


def test_loss_finite_with_empty_images_and_gradients():
    head = make_head()
    feats = [f.requires_grad_() for f in make_feats()]
    gts = [
        gt_instances([[20.0, 24, 30, 12, 0.3], [44, 40, 16, 16, -0.4],
                      [10, 10, 1.5, 8, 0]], [0, 2, 1]),
        gt_instances(np.zeros((0, 5)), []),
    ]
    losses = head.loss_by_feat(*head(feats), gts, [{}, {}])
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_dfl'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    assert all(torch.isfinite(f.grad).all() for f in feats)
    assert feats[0].grad[0].abs().sum() > 0

    empty = [gt_instances(np.zeros((0, 5)), [])] * 2
    losses = head.loss_by_feat(*head(make_feats()), empty, [{}, {}])
    assert losses['loss_bbox'] == 0 and losses['loss_dfl'] == 0
    assert torch.isfinite(losses['loss_cls']) and losses['loss_cls'] > 0


@pytest.mark.parametrize('world_size', [1, 4])
def test_released_loss_scale(monkeypatch, world_size):
    """scale_loss_by_batch: released ``loss.sum() * batch_size`` per GPU,
    times the world size (DDP then averages the gradients)."""
    import mmosar.models.dense_heads.yolo_obb_head as head_module
    monkeypatch.setattr(head_module, 'get_world_size', lambda: world_size)
    gts = [
        gt_instances([[20.0, 24, 30, 12, 0.3]], [0]),
        gt_instances([[44.0, 40, 16, 16, -0.4]], [2]),
    ]
    feats = make_feats()
    plain = make_head().loss_by_feat(*make_head()(feats), gts, [{}, {}])
    scaled_head = make_head(scale_loss_by_batch=True)
    scaled = scaled_head.loss_by_feat(*scaled_head(feats), gts, [{}, {}])
    for key, value in plain.items():
        # 2 images on this GPU
        assert scaled[key].item() == pytest.approx(
            value.item() * 2 * world_size, rel=1e-6)


def test_non_rotated_ground_truth_is_an_error():
    head = make_head()
    gts = [InstanceData(bboxes=torch.rand(2, 4), labels=torch.zeros(2))]
    with pytest.raises(ValueError, match='rotated ground truths'):
        head.loss_by_feat(*head(make_feats(1)), gts, [{}])


@pytest.mark.parametrize('nms_type', ['nms_rotated', 'probiou_nms'])
def test_predict_by_feat_contract(nms_type):
    head = make_eval_head()
    cfg = dict(
        score_thr=0.2,
        nms_pre=500,
        nms=dict(type=nms_type, iou_threshold=0.5),
        max_per_img=20)
    with torch.no_grad():
        outs = head(make_feats(size=96))
    metas = [dict(scale_factor=(2.0, 2.0)), dict(scale_factor=(1.0, 1.0))]
    results = head.predict_by_feat(
        *outs, batch_img_metas=metas, cfg=cfg, rescale=True)
    plain = head.predict_by_feat(
        *outs, batch_img_metas=metas, cfg=cfg, rescale=False)
    for res, ref in zip(results, plain):
        assert isinstance(res.bboxes, RotatedBoxes)
        assert 0 < len(res) <= 20
        assert (res.scores >= 0.2).all()
        assert (res.scores[:-1] >= res.scores[1:]).all()
        assert res.labels.max() < 3
    np.testing.assert_allclose(
        results[0].bboxes.tensor[:, :4].numpy(),
        plain[0].bboxes.tensor[:, :4].numpy() / 2,
        rtol=1e-5)


def test_probiou_nms_is_fast_nms():
    """B overlaps A, C overlaps B but not A: fast NMS (as released) drops B
    and C, although greedy NMS would keep C once B is gone."""
    boxes = torch.tensor([[50.0, 50, 40, 20, 0], [60, 50, 40, 20, 0],
                          [72, 50, 40, 20, 0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert np_probiou(boxes[0], boxes[1]) > 0.5
    assert np_probiou(boxes[1], boxes[2]) > 0.5
    assert np_probiou(boxes[0], boxes[2]) < 0.5
    assert probiou_nms(boxes, scores, 0.5).tolist() == [0]
    assert probiou_nms(boxes[[2, 0]], scores[[2, 0]], 0.5).tolist() == [1, 0]


def mirror_outputs(cls_scores, bbox_dists, angle_preds, reg_max=16):
    """Head outputs of the horizontally mirrored image.

    Mirroring maps the box axis ``u`` at angle ``t`` to the direction
    ``pi - t`` and flips the frame's handedness. Described with angle
    ``pi - t`` the left/right distances stay and top/bottom swap; with
    ``-t`` (the same frame turned by pi) left/right swap instead. The angle
    channel can only express ``[-pi/4, 3pi/4)``, which picks one of them.
    """
    mirrored_dists, mirrored_angles = [], []
    for dists, angles in zip(bbox_dists, angle_preds):
        theta = (angles.flip(-1).sigmoid() - 0.25) * math.pi
        use_neg = -theta >= -math.pi / 4
        new_theta = torch.where(use_neg, -theta, math.pi - theta)
        mirrored_angles.append(torch.logit(new_theta / math.pi + 0.25))
        left, top, right, bottom = dists.flip(-1).split(reg_max, dim=1)
        mirrored_dists.append(
            torch.where(use_neg, torch.cat([right, top, left, bottom], 1),
                        torch.cat([left, bottom, right, top], 1)))
    return ([c.flip(-1) for c in cls_scores], mirrored_dists, mirrored_angles)


def test_predictions_survive_the_flip_round_trip():
    """Predictions of the mirrored outputs, flipped back, match the
    predictions of the original outputs (anchor grid, decoding, NMS and
    RotatedBoxes.flip_ agree)."""
    head = make_eval_head()
    width = 96
    with torch.no_grad():
        outs = head(make_feats(batch=1, size=width))
    # keep the angle logits away from the ends of the range
    outs = (outs[0], outs[1], [a.clamp(-3, 3) for a in outs[2]])
    cfg = dict(
        score_thr=0.4,
        nms=dict(type='nms_rotated', iou_threshold=0.6),
        max_per_img=1000)
    ref = head.predict_by_feat(*outs, cfg=cfg)[0]
    mirrored = head.predict_by_feat(*mirror_outputs(*outs), cfg=cfg)[0]
    assert len(ref) > 0 and len(mirrored) == len(ref)
    mirrored.bboxes.flip_((width, width), 'horizontal')
    np.testing.assert_allclose(
        mirrored.scores.numpy(), ref.scores.numpy(), rtol=1e-5)
    np.testing.assert_array_equal(mirrored.labels.numpy(), ref.labels.numpy())
    for a, b in zip(mirrored.bboxes.tensor.numpy(), ref.bboxes.tensor.numpy()):
        assert same_polygon(
            rbox_polygon(a).exterior.coords[:-1],
            rbox_polygon(b).exterior.coords[:-1])
