"""DOTA split tool and patch merge, checked against direct computations."""
import importlib.util
import json

import cv2
import numpy as np
import pytest
from shapely.geometry import Polygon, box

from mmosar.datasets.utils.patch_split import (
    clip_polygons_to_window,
    crop_window,
    polygon_window_iof,
    scale_windows_by_rates,
    sliding_windows,
)
from mmosar.evaluation.functional import (
    format_patch_name,
    merge_patch_results,
    parse_patch_name,
)


def load_split_tool(repo_root):
    spec = importlib.util.spec_from_file_location(
        'dota_split_tool', repo_root / 'tools' / 'data' / 'dota' / 'split.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_objects(path):
    objects = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 9:
                objects.append(
                    (np.array(fields[:8],
                              dtype=np.float64), fields[8], int(fields[9])))
    return objects


def test_sliding_windows_hand_worked():
    # P0168 is 2304 x 1792; size 1024, gap 200 -> step 824. Along x:
    # 0, 824, 1648 -> the last is moved back to 2304 - 1024 = 1280; along y:
    # 0, 824 -> 1792 - 1024 = 768.
    windows = sliding_windows(2304, 1792, [1024], [200], 0.6)
    starts = {(int(w[0]), int(w[1])) for w in windows}
    assert starts == {(x, y) for x in (0, 824, 1280) for y in (0, 768)}
    assert np.all(windows[:, 2:] - windows[:, :2] == 1024)
    # image smaller than the window: one window at 0 covering 451*839/1024^2
    # = 0.36 of it; below img_rate_thr, it is kept as the best there is
    np.testing.assert_array_equal(
        sliding_windows(451, 839, [1024], [200], 0.6), [[0, 0, 1024, 1024]])
    # 2000 x 500 with 1024 windows: x starts 0, 824, 1648 -> 976; each
    # window is 500/1024 = 0.49 covered: kept with a 0.4 threshold; with 0.6
    # none passes and all (equally covered) are kept
    wide = sliding_windows(2000, 500, [1024], [200], 0.4)
    assert sorted(int(w[0]) for w in wide) == [0, 824, 976]
    assert len(sliding_windows(2000, 500, [1024], [200], 0.6)) == 3
    # 2000 x 1000, sizes 1024 / 512 (steps 824 / 412), threshold 0.99: the
    # 1024 windows are 1000/1024 = 0.977 covered and dropped; the 512 ones
    # (x 0, 412, 824, 1236, 1648 -> 1488; y 0, 412, 824 -> 488) all stay
    mixed = sliding_windows(2000, 1000, [1024, 512], [200, 100], 0.99)
    assert {(int(w[0]), int(w[1]), int(w[2] - w[0])) for w in mixed} == {
        (x, y, 512) for x in (0, 412, 824, 1236, 1488) for y in (0, 412, 488)
    }

    with pytest.raises(ValueError, match='gap'):
        sliding_windows(100, 100, [64], [64])


def test_scale_windows_by_rates():
    assert scale_windows_by_rates([1024], [500], [0.5, 1.0, 1.5]) == \
        ([2048, 1024, 682], [1000, 500, 333])


def test_polygon_window_iof_against_shapely():
    rng = np.random.default_rng(1)
    centers = rng.uniform(0, 300, size=(40, 1, 2))
    offsets = rng.uniform(-30, 30, size=(40, 4, 2))
    polys = np.stack([
        np.array(
            Polygon(c +
                    o).convex_hull.minimum_rotated_rectangle.exterior.coords)
        [:4] for c, o in zip(centers, offsets)
    ]).reshape(40, 8)
    windows = np.array([[0, 0, 128, 128], [100, 50, 228, 178],
                        [200, 200, 328, 328]])
    iofs = polygon_window_iof(polys, windows)
    for i, poly in enumerate(polys):
        shape = Polygon(poly.reshape(4, 2))
        for j, win in enumerate(windows):
            expected = shape.intersection(box(*win)).area / shape.area
            assert iofs[i, j] == pytest.approx(expected, abs=1e-9)


def test_clip_polygons_to_window_covers_visible_part():
    rng = np.random.default_rng(2)
    window = (0, 0, 100, 100)
    for _ in range(30):
        center = rng.uniform(70, 130, size=2)
        rect = ((*center, ), tuple(rng.uniform(20, 60, size=2)),
                float(rng.uniform(0, 90)))
        poly = cv2.boxPoints(rect).reshape(1, 8)
        visible = Polygon(poly.reshape(4, 2)).intersection(box(*window))
        if visible.area == 0:
            continue
        clipped = Polygon(clip_polygons_to_window(poly, window).reshape(4, 2))
        assert clipped.buffer(0.01).contains(visible)
        # the minimum-area rectangle of a convex region is at most twice it
        assert clipped.area <= 2 * visible.area + 1e-3
        assert clipped.area <= Polygon(poly.reshape(4, 2)).area + 1e-3


def test_crop_window_pads():
    img = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    patch = crop_window(img, (4, 2, 10, 8), pad_value=(1, 2, 3))
    assert patch.shape == (6, 6, 3)
    np.testing.assert_array_equal(patch[:3, :3], img[2:5, 4:7])
    assert (patch[3:] == (1, 2, 3)).all() and (patch[:, 3:] == (1, 2, 3)).all()
    assert crop_window(img, (4, 2, 10, 8), padding=False).shape == (3, 3, 3)


def test_patch_names():
    name = format_patch_name('P0168', 1024, 824, 768)
    assert name == 'P0168__1024__824___768'
    assert parse_patch_name(name) == ('P0168', 1024, 824, 768)
    assert parse_patch_name(name + '.png') == ('P0168', 1024, 824, 768)
    assert parse_patch_name('a__b__512__0___12') == ('a__b', 512, 0, 12)
    assert parse_patch_name('P0001__0.5__10___20') == ('P0001', 0.5, 10, 20)
    for bad in ('P0168', 'P0168__1024__824__768', 'P0168__1024__x___0'):
        with pytest.raises(ValueError, match=bad):
            parse_patch_name(bad)


@pytest.fixture(scope='module')
def p0168_split(shared_data, repo_root, tmp_path_factory):
    """Split P0168 with the single-scale DOTA settings (nproc=1)."""
    src = shared_data / 'dota_v1'
    save_dir = tmp_path_factory.mktemp('split') / 'out'
    inputs = tmp_path_factory.mktemp('inputs')
    (inputs / 'images').mkdir()
    (inputs / 'labelTxt').mkdir()
    (inputs / 'images' / 'P0168.png').symlink_to(src / 'images' / 'P0168.png')
    (inputs / 'labelTxt' / 'P0168.txt').symlink_to(src / 'labelTxt' /
                                                   'P0168.txt')
    tool = load_split_tool(repo_root)
    tool.main([
        '--base-json',
        str(repo_root / 'tools/data/dota/split_configs/ss_trainval.json'),
        '--img-dirs',
        str(inputs / 'images'), '--ann-dirs',
        str(inputs / 'labelTxt'), '--save-dir',
        str(save_dir), '--nproc', '1'
    ])
    return src, save_dir


def test_split_p0168_patches_and_objects(p0168_split):
    src, save_dir = p0168_split
    originals = read_objects(src / 'labelTxt' / 'P0168.txt')
    image = cv2.imread(str(src / 'images' / 'P0168.png'))
    names = sorted(p.stem for p in (save_dir / 'images').glob('*.png'))
    expected_names = sorted(f'P0168__1024__{x}___{y}' for x in (0, 824, 1280)
                            for y in (0, 768))
    assert names == expected_names
    summary = json.loads((save_dir / 'split_summary.json').read_text())
    assert summary['num_patches'] == 6

    for name in names:
        _, size, x, y = parse_patch_name(name)
        patch = cv2.imread(str(save_dir / 'images' / f'{name}.png'))
        np.testing.assert_array_equal(patch, image[y:y + size, x:x + size])
        window = box(x, y, x + size, y + size)
        expected = []
        for poly, cls, difficult in originals:
            shape = Polygon(poly.reshape(4, 2))
            iof = shape.intersection(window).area / shape.area
            if iof >= 0.7:
                expected.append((poly, cls, difficult, iof))
        written = read_objects(save_dir / 'annfiles' / f'{name}.txt')
        assert len(written) == len(expected)
        for (poly, cls, difficult, iof), (out, out_cls,
                                          out_diff) in zip(expected, written):
            assert out_cls == cls
            shifted = out + np.tile([x, y], 4)
            # the full polygon, shifted into the patch
            np.testing.assert_allclose(shifted, poly, atol=1e-2)
            # a truncated object (IoF < 1) gets difficulty 2
            assert out_diff == (difficult if iof > 1 - 1e-9 else 2)


def test_split_then_merge_restores_ground_truth(p0168_split):
    src, save_dir = p0168_split
    classes = ('plane', 'helicopter')
    results = []
    for ann in sorted((save_dir / 'annfiles').glob('*.txt')):
        objects = read_objects(ann)
        results.append(
            dict(
                img_id=ann.stem,
                bboxes=np.array([o[0] for o in objects],
                                dtype=np.float32).reshape(-1, 8),
                # complete copies outrank truncated (difficulty 2) ones
                scores=np.array([0.5 if o[2] == 2 else 1.0 for o in objects],
                                dtype=np.float32),
                labels=np.array([classes.index(o[1]) for o in objects],
                                dtype=np.int64)))
    (merged, ) = merge_patch_results(results, iou_thr=0.5)
    assert merged['img_id'] == 'P0168'
    originals = read_objects(src / 'labelTxt' / 'P0168.txt')
    assert len(merged['bboxes']) == len(originals) == 36
    remaining = list(range(len(originals)))
    for poly, label, score in zip(merged['bboxes'], merged['labels'],
                                  merged['scores']):
        match = [
            i for i in remaining if np.abs(originals[i][0] - poly).max() < 1e-2
        ]
        assert len(match) == 1 and score == 1.0
        assert classes[label] == originals[match[0]][1]
        remaining.remove(match[0])
    assert not remaining


def test_split_output_feeds_the_dota_base_config(p0168_split, repo_root):
    """The split patches load through configs/_base_/datasets/dota.py."""
    from mmengine.config import Config

    from mmosar.registry import DATASETS
    _, save_dir = p0168_split
    cfg = Config.fromfile(repo_root / 'configs/_base_/datasets/dota.py')
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.update(
        data_root=str(save_dir),
        ann_file='annfiles/',
        data_prefix=dict(img_path='images/'))
    dataset = DATASETS.build(dataset_cfg)
    assert len(dataset) == 6  # every P0168 patch holds objects
    sample = dataset[0]
    boxes = sample['data_samples'].gt_instances.bboxes
    assert type(boxes).__name__ == 'RotatedBoxes'
    assert tuple(sample['inputs'].shape) == (3, 1024, 1024)
    expected = len(read_objects(save_dir / 'annfiles' /
                                f'{dataset.get_data_info(0)["img_id"]}.txt'))
    assert len(boxes) == expected


def test_merge_boxes_by_nms_translates_and_suppresses_per_class():
    from mmosar.evaluation.functional import merge_boxes_by_nms

    # one object at image (600, 300) seen by two patches at x = 0 and 500;
    # a box of another class at the same place must survive (per-class NMS)
    boxes = [
        np.array([[600., 300., 80., 20., 0.3]]),
        np.array([[100., 300., 80., 20., 0.3], [100., 300., 80., 20., 0.3]])
    ]
    scores = [np.array([0.9]), np.array([0.8, 0.7])]
    labels = [np.array([0]), np.array([0, 1])]
    merged, merged_scores, merged_labels = merge_boxes_by_nms(
        boxes, scores, labels, [(0, 0), (500, 0)], iou_thr=0.1)
    assert merged_labels.tolist() == [0, 1]
    assert merged_scores.tolist() == pytest.approx([0.9, 0.7])
    np.testing.assert_allclose(
        merged.numpy(), [[600, 300, 80, 20, 0.3]] * 2, rtol=1e-6)
    # horizontal boxes are shifted on both corners
    hboxes, _, _ = merge_boxes_by_nms([np.array([[1., 2., 3., 4.]])],
                                      [np.array([1.])], [np.array([0])],
                                      [(10, 20)])
    assert hboxes.tolist() == [[11., 22., 13., 24.]]
    with pytest.raises(ValueError, match='one entry per patch'):
        merge_boxes_by_nms(boxes, scores, labels, [(0, 0)])
