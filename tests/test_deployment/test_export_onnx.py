"""ONNX export of rotated detectors against PyTorch (onnxruntime, CPU).

Independent references: the exportable selective scan against the
sequential recurrence, the numpy rotated IoU / NMS against mmcv's
``box_iou_rotated`` / ``nms_rotated`` and hand-worked overlaps, and the
exported graphs + numpy post-processing against the PyTorch detectors'
``predict`` on a real 3MOS optical-SAR pair (E2E-OSDet toy) and a real DOTA
tile (rotated RetinaNet toy).
"""
import math

import numpy as np
import pytest
import torch
from mmcv.ops import box_iou_rotated, nms_rotated
from mmcv.transforms import Compose

from mmosar.deployment.postprocess import (
    postprocess_detections,
    probiou_matrix,
    read_postprocess_config,
    rotated_iou_one_to_many,
)
from mmosar.deployment.selective_scan_export import (
    EXPORT_BACKEND,
    export_scan_backend,
    selective_scan_export,
)
from mmosar.models.layers.selective_scan import selective_scan_ref
from mmosar.structures.bbox import rbbox_probiou

E2E_TOY = 'configs/e2e_osdet/e2e-osdet_yolo11n-obb_toy_m4sar.py'
RETINA_TOY = 'configs/rotated_retinanet/rotated-retinanet-rbox-le90_r18_fpn_toy_hrsid.py'  # noqa: E501
# Dense outputs: max |onnx - torch| / max |torch| per output (float32).
# Measured on the E2E-OSDet toy pair: 8.8e-5 (scores), 2.8e-5 (boxes);
# float32 rounding amplified by the network: PyTorch's own chunked and
# sequential scans already give outputs 2.7e-5 apart on this input.
DENSE_RTOL = 2e-4
# Final detections: equal as sets (same number, matched one to one with
# the same label), scores within 2e-4, box centres / sizes within 0.05 px,
# angles within 1e-3 rad.
SCORE_ATOL, BOX_ATOL, ANGLE_ATOL = 2e-4, 0.05, 1e-3


def _random_scan_inputs(length, groups=2, seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    b, d, n = 2, 4, 3

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    return dict(
        u=rand(b, d, length),
        delta=rand(b, d, length) * scale,
        A=-torch.rand(d, n, generator=gen, dtype=torch.float64) * 20,
        B=rand(b, groups, n, length),
        C=rand(b, groups, n, length),
        D=rand(d),
        z=rand(b, d, length),
        delta_bias=rand(d),
        delta_softplus=True)


@pytest.mark.parametrize('length', [1, 2, 7, 64, 100])
def test_export_scan_matches_sequential_recurrence(length):
    inputs = _random_scan_inputs(length)
    y, state = selective_scan_export(**inputs, return_last_state=True)
    y_ref, state_ref = selective_scan_ref(**inputs, return_last_state=True)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state, state_ref, rtol=1e-12, atol=1e-12)


def test_export_scan_large_steps_stay_finite():
    # steps ~ softplus(50) with A down to -20: exp(delta A) underflows to
    # 0, which is exact in the limit; nothing overflows (float32)
    inputs = _random_scan_inputs(300, scale=50.0)
    inputs = {
        k: v.float() if torch.is_tensor(v) else v
        for k, v in inputs.items()
    }
    y = selective_scan_export(**inputs)
    y_ref = selective_scan_ref(**inputs)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)


def test_export_scan_backend_switch_restores():
    from mmosar.models.layers.cmim import CMIM
    cmim = CMIM(16, d_state=4, scan_backend='chunked')
    x = torch.randn(1, 16, 4, 6)
    with torch.no_grad():
        expected = cmim(x, x.flip(-1))
        with export_scan_backend(torch.nn.Sequential(cmim)) as switched:
            assert switched == [cmim] and cmim.scan_backend == EXPORT_BACKEND
            got = cmim(x, x.flip(-1))
    assert cmim.scan_backend == 'chunked'
    for a, e in zip(got, expected):
        torch.testing.assert_close(a, e, rtol=1e-5, atol=1e-5)


def _random_rboxes(num, seed):
    rng = np.random.default_rng(seed)
    return np.concatenate([
        rng.uniform(0, 60, (num, 2)),
        rng.uniform(1, 30, (num, 2)),
        rng.uniform(-math.pi, math.pi, (num, 1))
    ], 1)


def test_rotated_iou_hand_worked_and_mmcv():
    square = np.array([0.0, 0.0, 2.0, 2.0, 0.0])
    others = np.array([
        [1.0, 0.0, 2.0, 2.0, 0.0],  # half overlap: 2 / 6
        [0.0, 0.0, 2.0, 2.0, math.pi / 2],  # same square
        [5.0, 5.0, 2.0, 2.0, 0.3],  # disjoint
        # square turned 45 deg: octagon of area 8 (sqrt 2 - 1)
        [0.0, 0.0, 2.0, 2.0, math.pi / 4],
    ])
    octagon = 8 * (math.sqrt(2) - 1)
    np.testing.assert_allclose(
        rotated_iou_one_to_many(square, others),
        [1 / 3, 1.0, 0.0, octagon / (8 - octagon)],
        atol=1e-12)
    boxes = _random_rboxes(200, seed=1)
    boxes[3] = boxes[2]
    expected = box_iou_rotated(
        torch.tensor(boxes).float(), torch.tensor(boxes).float()).numpy()
    got = np.stack([rotated_iou_one_to_many(b, boxes) for b in boxes])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_probiou_matches_torch():
    from mmosar.deployment.onnx_export import probiou_pairwise
    boxes = _random_rboxes(50, seed=2)
    expected = rbbox_probiou(torch.tensor(boxes), torch.tensor(boxes))
    np.testing.assert_allclose(
        probiou_matrix(boxes, boxes), expected.numpy(), atol=1e-12)
    torch.testing.assert_close(
        probiou_pairwise(torch.tensor(boxes)), expected, rtol=0, atol=1e-12)


def test_nms_rotated_matches_mmcv():
    from mmosar.deployment.postprocess import nms_rotated as np_nms
    boxes = _random_rboxes(300, seed=3)
    scores = np.random.default_rng(4).uniform(0, 1, 300)
    for thr in (0.1, 0.5):
        _, keep = nms_rotated(
            torch.tensor(boxes).float(), torch.tensor(scores).float(), thr)
        np.testing.assert_array_equal(np_nms(boxes, scores, thr),
                                      keep.numpy())


def test_probiou_nms_matches_torch_head():
    from mmosar.deployment.postprocess import probiou_nms as np_probiou_nms
    from mmosar.models.dense_heads.yolo_obb_head import probiou_nms
    boxes = _random_rboxes(300, seed=5)
    scores = np.random.default_rng(6).uniform(0, 1, 300)
    for thr in (0.3, 0.7):
        keep = probiou_nms(torch.tensor(boxes), torch.tensor(scores), thr)
        np.testing.assert_array_equal(
            np_probiou_nms(boxes, scores, thr), keep.numpy())


# ------------------------------------------------------------ full models
def _spread_outputs(detector, inputs, head_std):
    """Random weights give near-constant scores (ties) and boxes; BN
    statistics from the input and larger final head convs give varied,
    confident outputs, so the comparison of detections means something."""
    for module in detector.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None
            module.reset_running_stats()
    detector.train()
    with torch.no_grad():
        detector.bbox_head(detector.extract_feat(inputs))
    detector.eval()
    head = detector.bbox_head
    if hasattr(head, 'retina_cls'):
        finals = [head.retina_cls, head.retina_reg]
    else:
        finals = [
            branch[-1] for branch in (*head.cls_branches, *head.box_branches,
                                      *head.angle_branches)
        ]
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for conv in finals:
            conv.weight.copy_(
                torch.randn(conv.weight.shape, generator=gen) * head_std)


def _assert_same_detection_sets(dets, labels, scores, boxes):
    """Every exported detection matches a distinct PyTorch detection of the
    same label within the score / box tolerances (near-equal scores may
    swap places, so the order is not compared)."""
    used = np.zeros(len(labels), dtype=bool)
    for label, score, box in zip(dets['labels'], dets['scores'],
                                 dets['bboxes']):
        close = ((labels == label) & ~used
                 & (np.abs(scores - score) <= SCORE_ATOL)
                 & (np.abs(boxes[:, :4] - box[:4]).max(1) <= BOX_ATOL)
                 & (np.abs(boxes[:, 4] - box[4]) <= ANGLE_ATOL))
        assert close.any(), f'no PyTorch match for {label} {score} {box}'
        used[np.flatnonzero(close)[0]] = True


def _export_and_compare(tmp_path,
                        config,
                        pipeline,
                        results,
                        test_cfg,
                        head_std,
                        exporter='torchscript',
                        postprocess='numpy'):
    ort = pytest.importorskip('onnxruntime', reason='onnxruntime missing')
    pytest.importorskip('onnx', reason='onnx missing')
    from mmosar.deployment.onnx_export import (
        DenseRotatedDetector,
        export_onnx,
        input_channels,
        load_detector,
    )
    torch.manual_seed(0)
    detector = load_detector(config, None)
    detector.bbox_head.test_cfg.update(test_cfg)
    packed = Compose(pipeline)(results)
    data = detector.data_preprocessor(
        dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']]),
        False)
    inputs, samples = data['inputs'], data['data_samples']
    _spread_outputs(detector, inputs, head_std)
    path = str(tmp_path / 'model.onnx')
    export_onnx(detector, input_channels(detector), inputs.shape[-2:], path,
                exporter=exporter, postprocess=postprocess)
    session = ort.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    outputs = session.run(None, {'inputs': inputs.numpy()})
    with torch.no_grad():
        dense = DenseRotatedDetector(detector)(inputs)
        expected = detector.predict(inputs, samples,
                                    rescale=False)[0].pred_instances
    ref_boxes = getattr(expected.bboxes, 'tensor', expected.bboxes).numpy()
    assert len(expected) > 5, 'the check needs detections to compare'
    if postprocess == 'graph':
        boxes, scores, labels = (o[0] for o in outputs)
        found = labels >= 0
        dets = dict(
            bboxes=boxes[found], scores=scores[found], labels=labels[found])
        assert len(dets['scores']) == len(expected)
        _assert_same_detection_sets(dets, expected.labels.numpy(),
                                    expected.scores.numpy(), ref_boxes)
        print(f'{len(expected)} detections (NMS in the graph)')
        return None, len(expected)
    boxes, scores = outputs
    deviations = {}
    for name, got, ref in zip(('boxes', 'scores'), (boxes, scores), dense):
        ref = ref.numpy()
        deviations[name] = np.abs(got - ref).max() / np.abs(ref).max()
    assert max(deviations.values()) < DENSE_RTOL, deviations
    dets = postprocess_detections(boxes, scores,
                                  read_postprocess_config(path))
    print(f'{len(expected)} detections, dense deviations {deviations}')
    assert len(dets['scores']) == len(expected)
    _assert_same_detection_sets(dets, expected.labels.numpy(),
                                expected.scores.numpy(), ref_boxes)
    return deviations, len(expected)


@pytest.mark.parametrize('exporter,postprocess,nms', [
    ('torchscript', 'numpy', 'nms_rotated'),
    ('torchscript', 'graph', 'probiou_nms'),
    pytest.param('dynamo', 'numpy', 'nms_rotated', marks=pytest.mark.slow),
])
def test_e2e_osdet_onnx_on_3mos_pair(tmp_path, shared_data, repo_root,
                                     monkeypatch, exporter, postprocess,
                                     nms):
    monkeypatch.chdir(repo_root)
    pairs = shared_data / '3mos_pairs'
    pipeline = [
        dict(type='LoadPairedImages', sar_channels=3),
        dict(type='Resize', scale=(256, 256), keep_ratio=True),
        dict(
            type='PackDetInputs',
            meta_keys=('img_path', 'ori_shape', 'img_shape', 'scale_factor',
                       'modality_channels'))
    ]
    name = 'GF3_city_03.png'
    results = dict(
        img_path=str(pairs / 'opt' / name), sar_path=str(pairs / 'sar' / name))
    _export_and_compare(
        tmp_path,
        E2E_TOY,
        pipeline,
        results,
        dict(nms_pre=200, nms=dict(type=nms, iou_threshold=0.7)),
        head_std=0.3,
        exporter=exporter,
        postprocess=postprocess)


def test_rotated_retinanet_onnx_on_dota_tile(tmp_path, shared_data,
                                             repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    # the exported graph clamps decoded centres to its input size, the head
    # to the unpadded image size: an unpadded 256 x 256 input makes them one
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(256, 256), keep_ratio=False),
        dict(
            type='PackDetInputs',
            meta_keys=('img_path', 'ori_shape', 'img_shape', 'scale_factor'))
    ]
    results = dict(img_path=str(shared_data / 'dota_v1/images/P1888.png'))
    # random weights score about 0.01 (focal prior): a lower threshold and
    # a small per-level nms_pre exercise every post-processing step
    _export_and_compare(
        tmp_path,
        RETINA_TOY,
        pipeline,
        results,
        dict(
            score_thr=0.02,
            nms_pre=100,
            nms=dict(type='nms_rotated', iou_threshold=0.3)),
        head_std=1.0)


def test_export_cli_writes_model_with_metadata(tmp_path, repo_root,
                                               monkeypatch, capsys):
    pytest.importorskip('onnxruntime', reason='onnxruntime missing')
    pytest.importorskip('onnx', reason='onnx missing')
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'export_onnx', repo_root / 'tools/deployment/export_onnx.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.chdir(repo_root)
    out = tmp_path / 'retina.onnx'
    monkeypatch.setattr('sys.argv', [
        'export_onnx.py', RETINA_TOY, 'none', '--out',
        str(out), '--shape', '128', '--exporter', 'torchscript', '--verify'
    ])
    tool.main()
    printed = capsys.readouterr().out
    cfg = read_postprocess_config(str(out))
    # 128 px through strides 8 ... 128 with 9 anchors per point
    assert cfg['level_sizes'] == [16 * 16 * 9, 8 * 8 * 9, 4 * 4 * 9, 2 * 2 * 9,
                                  1 * 1 * 9]
    assert cfg['nms'] == dict(type='nms_rotated', iou_threshold=0.1)
    for name in ('boxes', 'scores'):
        line = next(x for x in printed.splitlines() if x.startswith(name))
        assert float(line.rsplit(' ', 1)[1]) < DENSE_RTOL, line


def test_graph_nms_needs_probiou_head(repo_root, monkeypatch):
    from mmosar.deployment.onnx_export import GraphNMSDetector, load_detector
    monkeypatch.chdir(repo_root)
    detector = load_detector(RETINA_TOY, None)
    with pytest.raises(ValueError, match='probiou_nms'):
        GraphNMSDetector(detector, 100)
