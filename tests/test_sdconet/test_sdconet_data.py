"""SDCoNet data: DOTA horizontal boxes, COCO class checks, degradation."""
import json

import cv2
import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes

from mmosar.datasets.dota_hbb import DOTAHBBDataset
from mmosar.datasets.hrssd import HRSSDDataset
from mmosar.datasets.nwpu_vhr10 import NWPUVHR10Dataset
from mmosar.datasets.transforms.degrade import DegradeResolution


def _read_polygons(path):
    rows = []
    for line in open(path):
        fields = line.split()
        if len(fields) >= 9 and ':' not in line:
            rows.append([float(v) for v in fields[:8]])
    return np.array(rows).reshape(-1, 4, 2)


def test_dota_hbb_boxes_are_polygon_extents(shared_data):
    root = shared_data / 'dota_v1'
    ds = DOTAHBBDataset(
        data_root=str(root),
        ann_file='labelTxt/',
        data_prefix=dict(img_path='images/'),
        version='v1.5',
        pipeline=[],
        lazy_init=False)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    info = next(i for i in infos if i['img_id'] == 'P1888')
    polys = _read_polygons(root / 'labelTxt' / 'P1888.txt')
    boxes = np.array([inst['bbox'] for inst in info['instances']])
    expected = np.concatenate([polys.min(1), polys.max(1)], axis=1)
    np.testing.assert_allclose(boxes, expected)
    assert len(ds.metainfo['classes']) == 16


def _coco_json(path, names):
    json.dump(
        dict(
            images=[dict(id=1, file_name='a.jpg', width=10, height=10)],
            annotations=[
                dict(
                    id=1,
                    image_id=1,
                    category_id=2,
                    bbox=[1, 1, 4, 4],
                    area=16,
                    iscrowd=0)
            ],
            categories=[dict(id=i + 1, name=n) for i, n in enumerate(names)]),
        open(path, 'w'))


def test_nwpu_labels_follow_class_names(tmp_path):
    names = list(NWPUVHR10Dataset.METAINFO['classes'])
    _coco_json(tmp_path / 'ann.json', names)
    ds = NWPUVHR10Dataset(
        ann_file=str(tmp_path / 'ann.json'),
        data_prefix=dict(img=''),
        pipeline=[])
    assert ds.get_data_info(0)['instances'][0]['bbox_label'] == 1  # 'ship'


@pytest.mark.parametrize('names', [
    ['Airplane'] + list(NWPUVHR10Dataset.METAINFO['classes'][1:]),
    list(NWPUVHR10Dataset.METAINFO['classes'][::-1]),
])
def test_coco_class_mismatch_is_an_error(tmp_path, names):
    _coco_json(tmp_path / 'ann.json', names)
    with pytest.raises(ValueError, match='ann.json'):
        NWPUVHR10Dataset(ann_file=str(tmp_path / 'ann.json'), pipeline=[])


# HRRSD's official category ids 1-13 (TGRS-HRRSD-Dataset README).
HRRSD_OFFICIAL = [
    'ship', 'bridge', 'ground track field', 'storage tank',
    'basketball court', 'tennis court', 'airplane', 'baseball diamond',
    'harbor', 'vehicle', 'crossroad', 'T junction', 'parking lot'
]


def test_hrssd_default_classes_follow_official_ids():
    assert list(HRSSDDataset.METAINFO['classes']) == HRRSD_OFFICIAL


def test_hrssd_classes_come_from_the_file(tmp_path):
    # the file spells the names its own way and lists them in id order;
    # category id 2 ('Bridge') must become label 1.
    names = [n.title().replace(' ', '_') for n in HRRSD_OFFICIAL]
    _coco_json(tmp_path / 'ann.json', names)
    ds = HRSSDDataset(
        ann_file=str(tmp_path / 'ann.json'),
        data_prefix=dict(img=''),
        pipeline=[])
    assert list(ds.metainfo['classes']) == names
    assert ds.get_data_info(0)['instances'][0]['bbox_label'] == 1
    # a file whose ids follow another order gives labels in that order
    shuffled = HRRSD_OFFICIAL[::-1]
    _coco_json(tmp_path / 'rev.json', shuffled)
    ds = HRSSDDataset(
        ann_file=str(tmp_path / 'rev.json'),
        data_prefix=dict(img=''),
        pipeline=[])
    assert ds.metainfo['classes'][1] == 'T junction'
    assert ds.get_data_info(0)['instances'][0]['bbox_label'] == 1


def test_hrssd_foreign_categories_are_an_error(tmp_path):
    _coco_json(tmp_path / 'ann.json', HRRSD_OFFICIAL[:-1] + ['car park'])
    with pytest.raises(ValueError, match='ann.json.*HRRSD'):
        HRSSDDataset(ann_file=str(tmp_path / 'ann.json'), pipeline=[])
    # classes given in the config must match the file exactly
    _coco_json(tmp_path / 'ok.json', HRRSD_OFFICIAL)
    with pytest.raises(ValueError, match='ok.json'):
        HRSSDDataset(
            ann_file=str(tmp_path / 'ok.json'),
            metainfo=dict(classes=tuple(sorted(HRRSD_OFFICIAL))),
            pipeline=[])


def test_degrade_resolution_against_cv2():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)
    results = dict(
        img=img.copy(),
        img_shape=(40, 30),
        scale_factor=(2.0, 2.0),
        gt_bboxes=HorizontalBoxes(
            np.array([[4., 8., 20., 36.]], dtype=np.float32)))
    out = DegradeResolution(scale=0.5)(results)
    np.testing.assert_array_equal(
        out['img'], cv2.resize(img, (15, 20), interpolation=cv2.INTER_CUBIC))
    assert out['img_shape'] == (20, 15)
    assert out['scale_factor'] == (1.0, 1.0)
    np.testing.assert_allclose(out['gt_bboxes'].numpy(), [[2, 4, 10, 18]])


def test_degrade_resolution_rejects_bad_scale():
    with pytest.raises(ValueError, match='scale'):
        DegradeResolution(scale=2)
