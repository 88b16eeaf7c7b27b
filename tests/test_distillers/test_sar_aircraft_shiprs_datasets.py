"""SAR-AIRcraft-1.0 and ShipRSImageNet VOC-XML datasets."""
import re
from pathlib import Path

import pytest

from mmosar.datasets import SARAircraftDataset, ShipRSImageNetDataset
from mmosar.datasets.shiprs import SHIPRS_CLASSES


def test_sar_aircraft_parses_shared_annotations(shared_data):
    root = shared_data / 'sar_aircraft'
    ds = SARAircraftDataset(
        data_root=str(root), ann_file='', img_subdir='images', pipeline=[],
        test_mode=True)
    classes = ds.metainfo['classes']
    assert 'A320/321' in classes and len(classes) == 7
    xml_files = sorted((root / 'Annotations').glob('*.xml'))
    assert len(ds) == len(xml_files)
    for info, xml in zip(ds, xml_files):
        text = xml.read_text()
        names = re.findall(r'<name>(.*?)</name>', text)
        xmins = [float(v) for v in re.findall(r'<xmin>(.*?)</xmin>', text)]
        assert [classes[i['bbox_label']] for i in info['instances']] == names
        assert [i['bbox'][0] for i in info['instances']] == xmins
        assert Path(info['img_path']).is_file()
    assert any(
        classes[i['bbox_label']] == 'A320/321' for info in ds
        for i in info['instances'])


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_malformed_xml_names_the_file(tmp_path):
    write(tmp_path / 'Annotations' / 'a.xml', '<annotation><size>')
    with pytest.raises(ValueError, match=r'a\.xml: malformed XML'):
        SARAircraftDataset(data_root=str(tmp_path), ann_file='',
                           pipeline=[])
    write(tmp_path / 'Annotations' / 'a.xml',
          '<annotation><size><width>10</width><height>10</height></size>'
          '<object><name>Boeing999</name><bndbox><xmin>1</xmin><ymin>1'
          '</ymin><xmax>3</xmax><ymax>3</ymax></bndbox></object>'
          '</annotation>')
    with pytest.raises(ValueError, match=r"a\.xml: object 0: unknown class"):
        SARAircraftDataset(data_root=str(tmp_path), ann_file='',
                           pipeline=[])


SHIP_XML = """<annotation><filename>{name}.bmp</filename>
<size><width>930</width><height>930</height><depth>3</depth></size>
<object><name>Nimitz</name><difficult>0</difficult>
<bndbox><xmin>10</xmin><ymin>20</ymin><xmax>110</xmax><ymax>60</ymax></bndbox>
<polygon><x1>10</x1><y1>30</y1><x2>100</x2><y2>20</y2><x3>110</x3><y3>50</y3>
<x4>20</x4><y4>60</y4></polygon><Ship_area>3000</Ship_area>
<level_0>1</level_0><level_1>2</level_1><level_2>4</level_2>
<level_3>{level3}</level_3></object></annotation>"""


@pytest.mark.parametrize('level,expected', [(0, 'Ship'), (1, 'Warship'),
                                            (2, 'Aircraft Carrier'),
                                            (3, 'Nimitz')])
def test_shiprs_levels_hbb_and_obb(tmp_path, level, expected):
    write(tmp_path / 'Annotations' / '000001.xml',
          SHIP_XML.format(name='000001', level3=6))
    write(tmp_path / 'ImageSets' / 'train.txt', '000001\n')
    ds = ShipRSImageNetDataset(
        data_root=str(tmp_path), ann_file='ImageSets/train.txt',
        level=level, pipeline=[])
    info = ds[0]
    assert info['img_path'].endswith('JPEGImages/000001.bmp')
    inst = info['instances'][0]
    assert ds.metainfo['classes'][inst['bbox_label']] == expected
    assert inst['bbox'] == [10, 20, 110, 60]
    assert inst['polygon'] == [10, 30, 100, 20, 110, 50, 20, 60]
    assert len(ds.metainfo['classes']) == len(SHIPRS_CLASSES[level])


def test_shiprs_bad_level_id(tmp_path):
    write(tmp_path / 'Annotations' / '000002.xml',
          SHIP_XML.format(name='000002', level3=51))
    with pytest.raises(ValueError, match=r'000002\.xml: object 0: '
                       r'<level_3> id 51'):
        ShipRSImageNetDataset(data_root=str(tmp_path), ann_file='',
                              pipeline=[])
    with pytest.raises(ValueError, match='level'):
        ShipRSImageNetDataset(data_root=str(tmp_path), level=4, pipeline=[])
