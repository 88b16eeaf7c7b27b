"""M4SARDataset on toy folders written by tools/data/make_toy_m4sar.py."""
import importlib.util
import os
import re
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import mmosar.datasets.m4sar as m4sar_module
from mmosar.datasets import M4SARDataset
from mmosar.datasets.m4sar import m4sar_acquisition

IMG_SIZE = 96
CLASSES = ('bridge', 'harbor', 'oil_tank', 'playground', 'airport',
           'wind_turbine')


def load_toy_tool(repo_root: Path):
    spec = importlib.util.spec_from_file_location(
        'make_toy_m4sar', repo_root / 'tools' / 'data' / 'make_toy_m4sar.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def toy_root(tmp_path, repo_root):
    """Released layout: 4 train / 2 val / 2 test pairs of 96 px."""
    return load_toy_tool(repo_root).generate(
        tmp_path / 'released', 4, 2, 2, img_size=IMG_SIZE, seed=3)


@pytest.fixture
def drawn_root(tmp_path, repo_root):
    """Same samples in the drawn layout."""
    return load_toy_tool(repo_root).generate(
        tmp_path / 'drawn', 4, 2, 2, img_size=IMG_SIZE, seed=3, layout='drawn')


def test_toy_generator_is_deterministic_and_fast(tmp_path, repo_root):
    tool = load_toy_tool(repo_root)
    start = time.perf_counter()
    a = tool.generate(tmp_path / 'a', 24, 8, 8, img_size=256, seed=1)
    elapsed = time.perf_counter() - start
    b = tool.generate(tmp_path / 'b', 24, 8, 8, img_size=256, seed=1)
    files_a = sorted(p.relative_to(a) for p in a.rglob('*') if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob('*') if p.is_file())
    assert files_a == files_b and len(files_a) == 40 * 4
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert elapsed < 20  # a few seconds even on a busy 2-core machine


def test_released_layout(toy_root):
    dataset = M4SARDataset(data_root=str(toy_root), split='train')
    assert len(dataset) == 4
    assert dataset.metainfo['classes'] == CLASSES
    assert len(dataset.metainfo['palette']) == 6
    names = set()
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        name = info['img_id']
        names.add(name)
        assert Path(info['img_path']) == (
            toy_root / 'optical' / 'images' / 'train' / f'{name}.jpg')
        assert Path(info['sar_path']) == (
            toy_root / 'sar' / 'images' / 'train' / f'{name}.jpg')
        assert (info['width'], info['height']) == (IMG_SIZE, IMG_SIZE)
        # independent reading of the label file
        rows = np.loadtxt(
            toy_root / 'optical' / 'labels' / 'train' / f'{name}.txt',
            ndmin=2).reshape(-1, 9)
        polygons = np.array([inst['bbox']
                             for inst in info['instances']]).reshape(-1, 8)
        labels = [inst['bbox_label'] for inst in info['instances']]
        np.testing.assert_allclose(polygons, rows[:, 1:] * IMG_SIZE, atol=1e-6)
        assert labels == rows[:, 0].astype(int).tolist()
        assert all(inst['ignore_flag'] == 0 for inst in info['instances'])
    # the generator alternates the 10 m and 60 m number ranges
    assert names == {'1', '2', '56088', '56089'}
    by_name = {
        dataset.get_data_info(i)['img_id']: dataset.get_data_info(i)
        for i in range(len(dataset))
    }
    assert (by_name['1']['resolution'], by_name['1']['polarization']) == (10,
                                                                          'VH')
    assert (by_name['56088']['resolution'],
            by_name['56088']['polarization']) == (60, 'VV')


def test_acquisition_from_file_number():
    assert m4sar_acquisition('56087') == dict(resolution=10, polarization='VH')
    assert m4sar_acquisition('56088') == dict(resolution=60, polarization='VV')
    assert m4sar_acquisition('112174')['polarization'] == 'VV'
    assert m4sar_acquisition('112175')['resolution'] is None
    assert m4sar_acquisition('P0001')['resolution'] is None


def test_drawn_layout_matches_released(toy_root, drawn_root):
    released = M4SARDataset(data_root=str(toy_root), split='val')
    drawn = M4SARDataset(
        data_root=str(drawn_root), split='val', layout='drawn')
    assert len(released) == len(drawn) == 2
    for i in range(2):
        a, b = released.get_data_info(i), drawn.get_data_info(i)
        assert a['img_id'] == b['img_id']
        assert Path(b['sar_path']).parts[-4:-1] == ('SAR', 'val', 'images')
        np.testing.assert_allclose(
            np.array([inst['bbox'] for inst in a['instances']]),
            np.array([inst['bbox'] for inst in b['instances']]),
            atol=0.06)  # drawn labels are written with 1 decimal
        assert [inst['bbox_label'] for inst in a['instances']
                ] == [inst['bbox_label'] for inst in b['instances']]


def test_pairs_matched_by_name_not_order(toy_root):
    sar_dir = toy_root / 'sar' / 'images' / 'train'
    # renaming keeps the sorted ORDER of the SAR folder identical, so the
    # official sorted-order pairing would silently pair 2.jpg with 3.jpg
    os.rename(sar_dir / '2.jpg', sar_dir / '3.jpg')
    with pytest.raises(ValueError) as err:
        M4SARDataset(data_root=str(toy_root), split='train')
    message = str(err.value)
    assert 'optical without SAR' in message and ': 2' in message
    assert 'SAR without optical' in message and ': 3' in message


def test_size_mismatch_lists_names(toy_root):
    sar_path = toy_root / 'sar' / 'images' / 'train' / '56089.jpg'
    cv2.imwrite(str(sar_path), np.zeros((IMG_SIZE, IMG_SIZE + 4, 3), np.uint8))
    with pytest.raises(
            ValueError, match=r'56089 \(optical 96x96, SAR '
            r'100x96\)'):
        M4SARDataset(data_root=str(toy_root), split='train')


@pytest.mark.parametrize(
    'line, expected',
    [('0 0.1 0.1 0.2 0.1 0.2 0.2 0.1', 'expected 9 fields'),
     ('0 0.1 0.1 0.2 0.1 0.2 0.2 0.1 nan', 'not a finite number'),
     ('7 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.2', 'class id'),
     ('0 0.1 0.1 0.2 x 0.2 0.2 0.1 0.2', 'not a number')])
def test_bad_label_line_names_file_and_line(toy_root, line, expected):
    label = toy_root / 'optical' / 'labels' / 'test' / '4.txt'
    label.write_text('1 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.2\n\n' + line + '\n')
    with pytest.raises(ValueError) as err:
        M4SARDataset(data_root=str(toy_root), split='test')
    assert f'{label}:3' in str(err.value)
    assert re.search(expected, str(err.value))


def test_tolerated_labels_as_in_the_release(toy_root, monkeypatch):
    """Skip / keep / deduplicate as Ultralytics' verify_image_label does:
    only the axis-aligned extent (cx, cy, w, h) must lie in [0, 1]."""
    labels = toy_root / 'optical' / 'labels' / 'test'
    names = sorted(p.stem for p in labels.iterdir())
    assert names == ['4', '56091']
    # corner x = -0.05 (extent cx = 0.025 >= 0): kept as it is, line 1;
    # line 3 repeats line 2 (same class and extent): removed
    (labels / '4.txt').write_text(
        '1 -0.05 0.1 0.1 0.1 0.1 0.2 -0.05 0.2\n'
        '2 0.5 0.5 0.6 0.5 0.6 0.6 0.5 0.6\n'
        '2 0.5 0.5 0.6 0.5 0.6 0.6 0.5 0.6\n')
    # extent h = 1.1 > 1 on line 2: the release drops the pair
    (labels / '56091.txt').write_text('0 0.1 0.1 0.2 0.1 0.2 0.2 0.1 0.2\n'
                                      '0 0.1 0.1 0.2 0.1 0.2 1.2 0.1 0.2\n')
    logged = []
    monkeypatch.setattr(m4sar_module, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    dataset = M4SARDataset(data_root=str(toy_root), split='test')
    assert [dataset.get_data_info(i)['img_id']
            for i in range(len(dataset))] == ['4']
    instances = dataset.get_data_info(0)['instances']
    assert [inst['bbox_label'] for inst in instances] == [1, 2]
    np.testing.assert_allclose(
        instances[0]['bbox'],
        np.array([-0.05, 0.1, 0.1, 0.1, 0.1, 0.2, -0.05, 0.2]) * IMG_SIZE)
    summary = [msg for msg in logged if 'M4SARDataset(test)' in msg]
    assert len(summary) == 1
    assert f'{labels / "56091.txt"}:2' in summary[0]
    assert f'{labels / "4.txt"}:1' in summary[0]
    assert f'{labels / "4.txt"}:3' in summary[0]
    assert '1 label files skipped' in summary[0]
    assert '1 duplicate lines removed' in summary[0]
    with pytest.raises(ValueError, match='strict=True') as err:
        M4SARDataset(data_root=str(toy_root), split='test', strict=True)
    assert f'{labels / "56091.txt"}:2' in str(err.value)


def test_empty_or_missing_split(toy_root):
    for folder in ('optical', 'sar'):
        shutil.rmtree(toy_root / folder / 'images' / 'val')
        (toy_root / folder / 'images' / 'val').mkdir()
    with pytest.raises(ValueError, match='images/val is empty'):
        M4SARDataset(data_root=str(toy_root), split='val')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        M4SARDataset(data_root=str(toy_root), split='trainval')


def test_missing_label_files(toy_root):
    labels = toy_root / 'optical' / 'labels' / 'test'
    os.remove(labels / '4.txt')
    dataset = M4SARDataset(data_root=str(toy_root), split='test')
    by_name = {
        info['img_id']: info
        for info in (dataset.get_data_info(i) for i in range(len(dataset)))
    }
    assert by_name['4']['instances'] == []
    for path in labels.iterdir():
        os.remove(path)
    with pytest.raises(ValueError, match='no label file for any'):
        M4SARDataset(data_root=str(toy_root), split='test')


def test_check_sar_labels(toy_root):
    M4SARDataset(data_root=str(toy_root), split='train', check_sar_labels=True)
    sar_label = toy_root / 'sar' / 'labels' / 'train' / '56088.txt'
    lines = sar_label.read_text().splitlines()
    fields = lines[0].split()
    fields[1] = f'{float(fields[1]) * 0.5:.6f}'  # move one corner
    sar_label.write_text('\n'.join([' '.join(fields)] + lines[1:]) + '\n')
    # the released code never reads SAR labels: no error by default
    M4SARDataset(data_root=str(toy_root), split='train')
    with pytest.raises(ValueError, match='disagree.*56088'):
        M4SARDataset(
            data_root=str(toy_root), split='train', check_sar_labels=True)


def test_filter_empty_gt(toy_root):
    labels = toy_root / 'optical' / 'labels' / 'train'
    (labels / '2.txt').write_text('')
    expected = {
        path.stem
        for path in labels.iterdir() if path.read_text().strip()
    }
    dataset = M4SARDataset(
        data_root=str(toy_root),
        split='train',
        filter_cfg=dict(filter_empty_gt=True))
    assert {dataset.get_data_info(i)['img_id']
            for i in range(len(dataset))} == expected
    test_mode = M4SARDataset(
        data_root=str(toy_root),
        split='train',
        test_mode=True,
        filter_cfg=dict(filter_empty_gt=True))
    assert len(test_mode) == 4


def test_training_pipeline_end_to_end(toy_root):
    from mmosar.structures.bbox import RotatedBoxes
    pipeline = [
        dict(type='LoadPairedImages', sar_channels=1),
        dict(type='LoadAnnotations', with_bbox=True, box_type='qbox'),
        dict(type='ConvertBoxType', box_type_mapping=dict(gt_bboxes='rbox')),
        dict(type='Resize', scale=(128, 128), keep_ratio=True),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='PairedRandomHSV'),
        dict(type='SARRandomGain', looks=4.0),
        dict(
            type='PackDetInputs',
            meta_keys=('img_id', 'img_path', 'sar_path', 'ori_shape',
                       'img_shape', 'scale_factor', 'flip', 'flip_direction',
                       'modality_channels', 'resolution', 'polarization'))
    ]
    dataset = M4SARDataset(
        data_root=str(toy_root), split='train', pipeline=pipeline)
    index = next(
        i for i in range(len(dataset))
        if dataset.get_data_info(i)['instances'])
    sample = dataset[index]
    inputs, data_sample = sample['inputs'], sample['data_samples']
    assert tuple(inputs.shape) == (4, 128, 128)
    assert data_sample.metainfo['modality_channels'] == dict(optical=3, sar=1)
    boxes = data_sample.gt_instances.bboxes
    assert isinstance(boxes, RotatedBoxes)
    polygons = np.array([
        inst['bbox'] for inst in dataset.get_data_info(index)['instances']
    ]).reshape(-1, 4, 2)
    assert len(boxes) == len(polygons) > 0
    # box areas (w * h) scale by (128 / 96) ** 2; polygon areas by shoelace
    x, y = polygons[..., 0], polygons[..., 1]
    areas = 0.5 * np.abs(
        (x * np.roll(y, -1, 1) - np.roll(x, -1, 1) * y).sum(1))
    np.testing.assert_allclose(
        np.sort((boxes.tensor[:, 2] * boxes.tensor[:, 3]).numpy()),
        np.sort(areas * (128 / 96)**2),
        rtol=1e-3)
