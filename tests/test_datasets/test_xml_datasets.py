"""DIOR-R and HRSC2016 XML datasets on the real fixtures."""
import math
import os.path as osp
import shutil

import numpy as np
import pytest
from shapely.geometry import Point, Polygon

from mmosar.datasets import DIORRDataset, HRSCDataset

# Values of parser_fixtures/hrsc/Annotations/100000006.xml
HRSC_BOX = (341.2143, 443.3325, 778.4297, 178.2595, -1.122944)
HRSC_HEADER = (143, 776)


def hrsc_fixture(shared_data):
    return shared_data / 'parser_fixtures' / 'hrsc' / 'Annotations'


def test_hrsc_xml_folder(shared_data):
    dataset = HRSCDataset(
        ann_file=str(hrsc_fixture(shared_data)),
        data_prefix=dict(img_path='AllImages'),
        pipeline=[])
    assert dataset.metainfo['classes'] == ('ship', )
    info = dataset.get_data_info(0)
    assert info['img_id'] == '100000006'
    assert info['img_path'] == osp.join('AllImages', '100000006.bmp')
    assert (info['width'], info['height']) == (1172, 816)
    assert len(info['instances']) == 1
    instance = info['instances'][0]
    assert instance['bbox_label'] == 0 and instance['ignore_flag'] == 0

    corners = np.reshape(instance['bbox'], (4, 2))
    cx, cy, w, h, angle = HRSC_BOX
    np.testing.assert_allclose(corners.mean(0), (cx, cy), atol=1e-3)
    sides = sorted(
        np.linalg.norm(corners[k] - corners[(k + 1) % 4]) for k in range(2))
    np.testing.assert_allclose(sides, sorted((w, h)), rtol=1e-5)
    assert Polygon(corners).area == pytest.approx(w * h, rel=1e-5)
    # the long side follows (cos a, sin a) in image coordinates: the ship's
    # bow (header point) is inside the box, which fails for the opposite sign
    long_edges = [corners[(k + 1) % 4] - corners[k] for k in range(4)]
    long_edge = max(long_edges, key=np.linalg.norm)
    cosine = abs(long_edge @ (math.cos(angle), math.sin(angle))) / w
    assert cosine == pytest.approx(1.0, abs=1e-5)
    assert Polygon(corners).contains(Point(HRSC_HEADER))


def test_hrsc_image_set_and_classwise(shared_data, tmp_path):
    image_set = tmp_path / 'trainval.txt'
    image_set.write_text('100000006\n\n')
    dataset = HRSCDataset(
        ann_file=str(image_set),
        data_prefix=dict(
            img_path='AllImages', ann_path=str(hrsc_fixture(shared_data))),
        classwise=True,
        pipeline=[])
    classes = dataset.metainfo['classes']
    assert len(classes) == 31 and len(dataset.metainfo['palette']) == 31
    # Class_ID 100000013 is the 13th HRSC class
    label = dataset.get_data_info(0)['instances'][0]['bbox_label']
    assert classes[label] == 'Kuznetsov'
    with pytest.raises(ValueError, match='ann_path'):
        HRSCDataset(
            ann_file=str(image_set),
            data_prefix=dict(img_path='x'),
            pipeline=[])


def test_hrsc_malformed_xml_names_file(shared_data, tmp_path):
    ann = tmp_path / 'Annotations'
    shutil.copytree(hrsc_fixture(shared_data), ann)
    bad = ann / '100000007.xml'
    bad.write_text('<HRSC_Image><Img_SizeWidth>10</Img_SizeWidth>')
    with pytest.raises(ValueError, match='100000007.xml: malformed XML'):
        HRSCDataset(ann_file=str(ann), pipeline=[])
    text = (ann / '100000006.xml').read_text()
    bad.write_text(text.replace('<mbox_cx>341.2143</mbox_cx>', ''))
    with pytest.raises(ValueError, match='100000007.xml.*mbox_cx'):
        HRSCDataset(ann_file=str(ann), pipeline=[])
    bad.write_text(text.replace('>341.2143<', '>abc<'))
    with pytest.raises(ValueError, match='100000007.xml.*number'):
        HRSCDataset(ann_file=str(ann), pipeline=[])


def test_dior_r_fixture(shared_data):
    root = shared_data / 'parser_fixtures' / 'dior_r'
    dataset = DIORRDataset(
        ann_file=str(root / 'Annotations' / 'Oriented Bounding Boxes'),
        data_prefix=dict(img_path=str(root / 'JPEGImages')),
        pipeline=[])
    assert len(dataset.metainfo['classes']) == 20
    info = dataset.get_data_info(0)
    assert osp.isfile(info['img_path'])
    assert (info['width'], info['height']) == (800, 800)
    (instance, ) = info['instances']
    assert dataset.metainfo['classes'][instance['bbox_label']] == 'golffield'
    # robndbox corners: left-top, right-top, right-bottom, left-bottom
    assert instance['bbox'] == [133, 237, 684, 237, 684, 672, 133, 672]


DIOR_XML = """<annotation><size><width>800</width><height>600</height></size>
<object><name>{name}</name><difficult>1</difficult>
<polygon><x1>10</x1><y1>20</y1><x2>110</x2><y2>20</y2><x3>110</x3>
<y3>70</y3><x4>10</x4><y4>70</y4></polygon></object></annotation>"""


def test_dior_r_polygon_image_set_and_errors(tmp_path):
    ann = tmp_path / 'Annotations'
    ann.mkdir()
    (ann / '00002.xml').write_text(DIOR_XML.format(name='ship'))
    image_set = tmp_path / 'test.txt'
    image_set.write_text('00002\n')
    kwargs = dict(
        ann_file=str(image_set),
        data_prefix=dict(img_path='imgs', ann_path=str(ann)),
        pipeline=[])
    dataset = DIORRDataset(diff_thr=0, **kwargs)
    (instance, ) = dataset.get_data_info(0)['instances']
    assert instance['bbox'] == [10, 20, 110, 20, 110, 70, 10, 70]
    assert instance['ignore_flag'] == 1  # difficult and diff_thr=0
    assert dataset.get_data_info(0)['height'] == 600

    (ann / '00002.xml').write_text(DIOR_XML.format(name='ufo'))
    with pytest.raises(ValueError, match="00002.xml.*unknown class 'ufo'"):
        DIORRDataset(**kwargs)
    (ann / '00002.xml').write_text(DIOR_XML.format(name='ship'))
    image_set.write_text('00002\n00003\n')
    with pytest.raises(FileNotFoundError, match='00003.xml'):
        DIORRDataset(**kwargs)
