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


def make_shiprs_layout(root: Path, splits: dict) -> None:
    """ShipRSImageNet's VOC_Format layout: ImageSets lists of ``<id>.bmp``
    lines, ``Annotations/<id>.xml``, ``JPEGImages/<id>.bmp``."""
    import cv2
    import numpy as np
    for split, ids in splits.items():
        write(root / 'ImageSets' / f'{split}.txt',
              ''.join(f'{i}.bmp\n' for i in ids))
        for n, img_id in enumerate(ids):
            write(root / 'Annotations' / f'{img_id}.xml',
                  SHIP_XML.format(name=img_id, level3=6 + n))
            image = np.full((64, 64, 3), 40 * n, dtype=np.uint8)
            (root / 'JPEGImages').mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(root / 'JPEGImages' / f'{img_id}.bmp'),
                               image)


def test_shiprs_real_layout_with_the_paper_splits(tmp_path, repo_root):
    """The dataset config on the released layout: train + val lists for
    training (their ``.bmp`` entries read as ids), test for evaluation,
    images loaded through the config's pipelines."""
    from mmengine.config import Config

    from mmosar.registry import DATASETS
    root = tmp_path / 'ShipRSImageNet' / 'VOC_Format'
    make_shiprs_layout(root, dict(train=['000001', '000002'],
                                  val=['000003'], test=['000004', '000005']))
    cfg = Config.fromfile(
        str(repo_root / 'configs/_base_/datasets/shiprsimagenet.py'))
    train_cfg = cfg.train_dataloader.dataset
    train_cfg.update(data_root=str(root) + '/')
    train = DATASETS.build(train_cfg)
    assert [train.get_data_info(i)['img_id'] for i in range(len(train))] \
        == ['000001', '000002', '000003']
    sample = train[2]
    classes = train.metainfo['classes']
    # level_3 ids 6 + n: Nimitz (6), then Midway (7), ...
    assert classes[int(sample['data_samples'].gt_instances.labels[0])] \
        == 'Nimitz'
    assert tuple(sample['inputs'].shape) == (3, 800, 800)
    assert sample['data_samples'].img_path.endswith('JPEGImages/000003.bmp')

    test_cfg = cfg.test_dataloader.dataset
    test_cfg.update(data_root=str(root) + '/')
    test = DATASETS.build(test_cfg)
    infos = [test.get_data_info(i) for i in range(len(test))]
    assert [i['img_id'] for i in infos] == ['000004', '000005']
    assert [classes[i['instances'][0]['bbox_label']] for i in infos] == [
        'Nimitz', 'Midway'
    ]
    assert tuple(test[0]['inputs'].shape) == (3, 800, 800)


def test_id_lists_errors_name_the_file_and_line(tmp_path):
    root = tmp_path / 'VOC_Format'
    make_shiprs_layout(root, dict(train=['000001'], val=['000002']))
    write(root / 'ImageSets' / 'val.txt', '000002.bmp\n\n000001.bmp\n')
    with pytest.raises(ValueError, match=r"val\.txt:3: image '000001' is "
                       r'already listed in .*train\.txt:1'):
        ShipRSImageNetDataset(
            data_root=str(root),
            ann_file=['ImageSets/train.txt', 'ImageSets/val.txt'],
            pipeline=[])
    write(root / 'ImageSets' / 'test.txt', '000009.bmp\n')
    with pytest.raises(FileNotFoundError, match=r'000009\.xml of image '
                       r"'000009'"):
        ShipRSImageNetDataset(data_root=str(root),
                              ann_file='ImageSets/test.txt', pipeline=[])
