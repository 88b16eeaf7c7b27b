"""DOTADataset / SARShipDataset against direct parses of the label text."""
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from shapely.geometry import Point, Polygon

from mmosar.datasets import DOTADataset, SARShipDataset
from mmosar.datasets.dota import (
    DOTA_V1_CLASSES,
    DOTA_V2_CLASSES,
    simple_quadrilaterals,
)


def parse_text(path):
    """Independent parse: the object lines (10 fields) of a label file."""
    objects = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            if len(fields) == 10:
                objects.append(([float(v) for v in fields[:8]], fields[8],
                                int(fields[9])))
    return objects


def infos(dataset):
    """All data infos (``data_list`` is emptied by serialization)."""
    return [dataset.get_data_info(i) for i in range(len(dataset))]


def build_dota(root, **kwargs):
    return DOTADataset(
        ann_file=str(root / 'labelTxt'),
        data_prefix=dict(img_path=str(root / 'images')),
        pipeline=[],
        **kwargs)


def test_raw_dota_labels_match_text(shared_data):
    root = shared_data / 'dota_v1'
    dataset = build_dota(root, diff_thr=0)
    assert dataset.metainfo['classes'] == DOTA_V1_CLASSES
    assert len(dataset) == 3
    total = 0
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        assert osp.isfile(info['img_path'])
        expected = parse_text(root / 'labelTxt' / f'{info["img_id"]}.txt')
        instances = info['instances']
        assert len(instances) == len(expected)
        for instance, (poly, name, difficult) in zip(instances, expected):
            np.testing.assert_allclose(instance['bbox'], poly)
            assert DOTA_V1_CLASSES[instance['bbox_label']] == name
            # diff_thr=0: difficult objects (flag 1) become ignored
            assert instance['ignore_flag'] == int(difficult > 0)
        total += len(expected)
    assert total == 2 + 36 + 64  # SOURCE.md: P0075, P0168, P1888
    p0168 = [d for d in dataset.load_data_list() if d['img_id'] == 'P0168']
    labels = [inst['bbox_label'] for inst in p0168[0]['instances']]
    assert labels.count(DOTA_V1_CLASSES.index('plane')) == 27
    assert labels.count(DOTA_V1_CLASSES.index('helicopter')) == 9
    gsd = {d['img_id']: d['gsd'] for d in dataset.load_data_list()}
    assert gsd['P0075'] == pytest.approx(0.139152881468)


def test_default_diff_thr_ignores_nothing(shared_data):
    dataset = build_dota(shared_data / 'dota_v1')
    flags = [
        inst['ignore_flag'] for i in range(len(dataset))
        for inst in dataset.get_data_info(i)['instances']
    ]
    assert flags and not any(flags)


def test_malformed_fixture_names_file_and_line(shared_data):
    root = shared_data / 'parser_fixtures' / 'dota'
    with pytest.raises(ValueError) as error:
        build_dota(root)
    message = str(error.value)
    assert 'P0004__1__0___0.txt' in message and '[4]' in message
    # the 4th line is a bow-tie: shapely agrees it is not a valid polygon
    poly = parse_text(root / 'labelTxt' / 'P0004__1__0___0.txt')[3][0]
    assert not Polygon(np.reshape(poly, (4, 2))).is_valid


def test_invalid_polygon_policies(shared_data):
    root = shared_data / 'parser_fixtures' / 'dota'
    with pytest.warns(UserWarning, match='P0004__1__0___0.txt'):
        skipped = build_dota(root, on_invalid_polygon='skip')
    counts = {d['img_id']: len(d['instances']) for d in infos(skipped)}
    assert counts == {'P0004__1__0___0': 3, 'P2805__1024__0___0': 4}
    with pytest.warns(UserWarning):
        kept = build_dota(root, on_invalid_polygon='warn')
    counts = {d['img_id']: len(d['instances']) for d in infos(kept)}
    assert counts['P0004__1__0___0'] == 4


def test_labels_in_1024_space_are_read_unscaled(shared_data):
    """P2805's tile was shrunk to 170 px but its labels are in 1024-px space:
    the parser returns the file's numbers, it does not rescale them."""
    root = shared_data / 'parser_fixtures' / 'dota'
    with pytest.warns(UserWarning):
        dataset = build_dota(root, on_invalid_polygon='skip')
    info = [d for d in infos(dataset) if d['img_id'].startswith('P2805')]
    polys = np.array([inst['bbox'] for inst in info[0]['instances']])
    expected = parse_text(root / 'labelTxt' / 'P2805__1024__0___0.txt')
    np.testing.assert_allclose(polys, [p for p, _, _ in expected])
    height, width = cv2.imread(info[0]['img_path']).shape[:2]
    assert (width, height) == (170, 170)
    assert polys.max() > width and polys.max() <= 1024


@pytest.mark.parametrize('line, what', [
    ('1 2 3 4 5 6 7 8 plane 0 extra', 'fields'),
    ('1 2 3 4 5 six 7 8 plane 0', 'non-numeric'),
    ('0 0 10 0 10 10 0 10 spaceship 0', 'unknown class'),
    ('0 0 10 0 10 10 0 10 plane hard', 'difficulty'),
])
def test_malformed_line_errors_name_file_and_line(tmp_path, line, what):
    labels = tmp_path / 'labelTxt'
    labels.mkdir()
    (labels / 'img1.txt').write_text('imagesource:GoogleEarth\ngsd:0.5\n'
                                     f'0 0 10 0 10 10 0 10 plane 0\n{line}\n')
    with pytest.raises(ValueError) as error:
        DOTADataset(
            ann_file=str(labels), data_prefix=dict(img_path=''), pipeline=[])
    message = str(error.value)
    assert f'{labels / "img1.txt"}:4' in message and what in message


def test_empty_label_file_and_filter_empty_gt(tmp_path):
    labels = tmp_path / 'labelTxt'
    labels.mkdir()
    (labels / 'empty.txt').write_text('')
    (labels / 'header_only.txt').write_text('imagesource:x\ngsd:null\n')
    (labels / 'one.txt').write_text('0 0 10 0 10 10 0 10 ship\n')
    kwargs = dict(
        ann_file=str(labels),
        data_prefix=dict(img_path=str(tmp_path / 'images')),
        pipeline=[])
    dataset = DOTADataset(**kwargs)
    counts = {d['img_id']: len(d['instances']) for d in infos(dataset)}
    assert counts == {'empty': 0, 'header_only': 0, 'one': 1}
    one = infos(dataset)[-1]['instances'][0]
    assert one['bbox_label'] == DOTA_V1_CLASSES.index('ship')
    assert one['difficulty'] == 0  # 9-field line: difficulty defaults to 0
    filtered = DOTADataset(filter_cfg=dict(filter_empty_gt=True), **kwargs)
    assert [d['img_id'] for d in infos(filtered)] == ['one']
    test_mode = DOTADataset(
        filter_cfg=dict(filter_empty_gt=True), test_mode=True, **kwargs)
    assert len(test_mode) == 3


def test_unlabeled_images_without_ann_file(shared_data):
    img_dir = shared_data / 'parser_fixtures' / 'demo_unlabeled'
    dataset = DOTADataset(
        ann_file='',
        data_prefix=dict(img_path=str(img_dir)),
        img_suffix='jpg',
        test_mode=True,
        pipeline=[])
    assert [d['img_id'] for d in infos(dataset)] == ['demo', 'dota_demo']
    assert all(d['instances'] == [] for d in infos(dataset))


def test_versions_and_class_subset(shared_data):
    root = shared_data / 'dota_v1'
    assert len(build_dota(root, version='v1.5').metainfo['classes']) == 16
    v2 = build_dota(root, version='v2.0')
    assert v2.metainfo['classes'] == DOTA_V2_CLASSES
    assert len(v2.metainfo['palette']) == 18
    with pytest.raises(ValueError, match='version'):
        build_dota(root, version='v3')
    planes = build_dota(
        root,
        metainfo=dict(classes=('helicopter', 'plane')),
        on_unknown_class='skip')
    names = [
        planes.metainfo['classes'][inst['bbox_label']]
        for i in range(len(planes))
        for inst in planes.get_data_info(i)['instances']
    ]
    assert names.count('plane') == 27 and names.count('helicopter') == 9
    assert len(names) == 36
    assert len(planes.metainfo['palette']) == 2
    with pytest.raises(ValueError, match='unknown class'):
        build_dota(root, metainfo=dict(classes=('plane', )))


def test_pipeline_gives_rotated_boxes_around_polygons(shared_data):
    root = shared_data / 'dota_v1'
    dataset = DOTADataset(
        ann_file=str(root / 'labelTxt'),
        data_prefix=dict(img_path=str(root / 'images')),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True, box_type='qbox'),
            dict(
                type='ConvertBoxType',
                box_type_mapping=dict(gt_bboxes='rbox')),
        ])
    index = [d['img_id'] for d in infos(dataset)].index('P1888')
    results = dataset[index]
    boxes = results['gt_bboxes']
    assert type(boxes).__name__ == 'RotatedBoxes'
    polygons = [inst['bbox'] for inst in infos(dataset)[index]['instances']]
    assert len(boxes) == len(polygons) == 64
    for rbox, poly in zip(boxes.tensor.numpy(), polygons):
        shape = Polygon(np.reshape(poly, (4, 2)))
        cx, cy, w, h, _ = rbox
        # the minimum-area rectangle covers the polygon
        assert w * h >= shape.area - 1e-3
        assert shape.buffer(1.0).contains(Point(cx, cy))


def test_simple_quadrilaterals_against_shapely():
    rng = np.random.default_rng(0)
    polys = rng.uniform(0, 10, size=(300, 8))
    expected = [Polygon(p.reshape(4, 2)).is_valid for p in polys]
    np.testing.assert_array_equal(simple_quadrilaterals(polys), expected)
    assert not simple_quadrilaterals(np.zeros((1, 8)))[0]


def test_sar_ship_dataset(shared_data, tmp_path):
    root = shared_data / 'hrsid'
    dataset = SARShipDataset(
        ann_file=str(root / 'labelTxt'),
        data_prefix=dict(img_path=str(root / 'images')),
        pipeline=[])
    assert dataset.metainfo['classes'] == ('ship', )
    counts = {d['img_id']: len(d['instances']) for d in infos(dataset)}
    assert counts == {
        'P0094_0_800_3000_3800': 10,
        'P0135_1800_2600_4800_5600': 6
    }
    assert all(d['gsd'] is None for d in infos(dataset))
    assert all(osp.isfile(d['img_path']) for d in infos(dataset))
    # a DOTA label of another class is an error for the ship dataset
    labels = tmp_path / 'labelTxt'
    shutil.copytree(root / 'labelTxt', labels)
    with open(labels / 'P0094_0_800_3000_3800.txt', 'a') as f:
        f.write('0 0 10 0 10 10 0 10 plane 0\n')
    with pytest.raises(ValueError, match='P0094_0_800_3000_3800.txt:13'):
        SARShipDataset(
            ann_file=str(labels), data_prefix=dict(img_path=''), pipeline=[])
