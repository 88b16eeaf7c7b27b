"""HOSS / OptiSar_Pair parsing, chip loading, ship size, identity sampler."""
import importlib.util
from collections import Counter

import cv2
import numpy as np
import pytest

from mmosar.datasets import (
    HOSSDataset,
    LoadShipChip,
    OptiSarPairDataset,
    ShipSizeVector,
)
from mmosar.datasets.samplers import IdentitySampler


def _load_generator(repo_root):
    spec = importlib.util.spec_from_file_location(
        'make_toy_hoss', repo_root / 'tools' / 'data' / 'make_toy_hoss.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def toy_hoss(tmp_path_factory, shared_data, repo_root):
    gen = _load_generator(repo_root)
    out = tmp_path_factory.mktemp('hoss')
    args = gen.argparse.Namespace(
        num_train_ids=4, num_test_ids=3, num_distractors=1, chips=2,
        num_pairs=6, pairs_per_folder=4)
    rng = np.random.default_rng(0)
    places = gen.load_places(shared_data / '3mos_pairs')
    gen.make_hoss(places, out / 'HOSS', args, rng)
    gen.make_pairs(places, out / 'pairs', args)
    return out


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((8, 4, 3), 100, np.uint8))


def test_train_split(toy_hoss):
    ds = HOSSDataset(str(toy_hoss / 'HOSS'), split='train')
    # 4 ids x 2 modalities x 2 chips.
    assert len(ds) == 16
    assert ds.metainfo['num_ids'] == 4
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    assert sorted({d['gt_label'] for d in infos}) == [0, 1, 2, 3]
    for d in infos:
        name = d['img_path'].rsplit('/', 1)[1]
        assert d['ship_id'] == int(name[:4])
        assert d['modality'] == (0 if name.endswith('_RGB.tif') else 1)
    # Relabelling keeps the order of the raw ids.
    order = sorted({d['ship_id'] for d in infos})
    assert all(d['gt_label'] == order.index(d['ship_id']) for d in infos)


def test_test_split_protocols(toy_hoss):
    ds = HOSSDataset(str(toy_hoss / 'HOSS'), split='test', test_mode=True)
    count = Counter((d['protocol'], d['role'], d['modality'])
                    for d in (ds.get_data_info(i) for i in range(len(ds))))
    # ALL: query = first chip of each test id per modality (3 x 2);
    # gallery = second chips (3 x 2) + distractor (1 x 2 x 2).
    assert count[('ALL', 'query', 0)] == count[('ALL', 'query', 1)] == 3
    assert count[('ALL', 'gallery', 0)] == count[('ALL', 'gallery', 1)] == 5
    # O2S: optical queries only, SAR gallery only; S2O the reverse.
    assert count[('O2S', 'query', 0)] == 6 and count[('O2S', 'query', 1)] == 0
    assert count[('O2S', 'gallery', 1)] == 8
    assert count[('O2S', 'gallery', 0)] == 0
    assert count[('S2O', 'query', 1)] == 6
    assert count[('S2O', 'gallery', 0)] == 8
    only_all = HOSSDataset(str(toy_hoss / 'HOSS'), split='test',
                           protocols=('ALL', ))
    assert len(only_all) == 16


def test_bad_names_and_folders(tmp_path):
    root = tmp_path / 'hoss'
    _touch(root / 'bounding_box_train' / 'ship7_a_RGB.tif')
    with pytest.raises(ValueError, match='ship7_a_RGB.tif'):
        HOSSDataset(str(root), split='train')
    (root / 'bounding_box_train' / 'ship7_a_RGB.tif').unlink()
    _touch(root / 'bounding_box_train' / '0007_a_IR.tif')
    with pytest.raises(ValueError, match='0007_a_IR.tif'):
        HOSSDataset(str(root), split='train')
    with pytest.raises(FileNotFoundError, match='query'):
        HOSSDataset(str(root), split='test', protocols=('ALL', ))


def test_queries_without_gallery_match(tmp_path):
    root = tmp_path / 'hoss'
    _touch(root / 'query' / '0001_a_RGB.tif')
    _touch(root / 'query' / '0002_a_RGB.tif')
    _touch(root / 'bounding_box_test' / '0001_b_SAR.tif')
    ds = HOSSDataset(str(root), split='test', protocols=('ALL', ))
    assert len(ds) == 3  # kept; the metric skips and counts id 2
    (root / 'bounding_box_test' / '0001_b_SAR.tif').unlink()
    _touch(root / 'bounding_box_test' / '0003_b_SAR.tif')
    with pytest.raises(ValueError, match='no query id occurs'):
        HOSSDataset(str(root), split='test', protocols=('ALL', ))


def test_sar_chip_scaling_and_ship_size(tmp_path):
    sar = np.array([[0.0, 10.0], [20.0, 400.0], [3.3, 399.0]], np.float32)
    path = tmp_path / '0001_x_SAR.tif'
    cv2.imwrite(str(path), sar)
    out = LoadShipChip()(dict(img_path=str(path), modality=1))
    assert out['img'].shape == (3, 2, 3) and out['img'].dtype == np.uint8
    expected = np.floor(sar / 400.0 * 255).astype(np.uint8)
    for c in range(3):
        np.testing.assert_array_equal(out['img'][..., c], expected)
    # SAR: 1 m pixels; (w, h) = (2, 3) m.
    size = ShipSizeVector()(out)['ship_size']
    np.testing.assert_allclose(
        size, [(2 / 93 - 0.434) / 0.031, (3 / 427 - 0.461) / 0.031, 1.5],
        rtol=1e-5)
    # Optical: 0.75 m pixels; a 100 x 40 chip is 30 m wide, 75 m long.
    opt = tmp_path / '0001_x_RGB.tif'
    cv2.imwrite(str(opt), np.zeros((100, 40, 3), np.uint8))
    res = ShipSizeVector()(LoadShipChip()(dict(img_path=str(opt),
                                               modality=0)))
    np.testing.assert_allclose(
        res['ship_size'],
        [(30 / 93 - 0.434) / 0.031, (75 / 427 - 0.461) / 0.031, 2.5],
        rtol=1e-5)
    bad = tmp_path / '0002_x_SAR.tif'
    cv2.imwrite(str(bad), np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match='0002_x_SAR.tif'):
        LoadShipChip()(dict(img_path=str(bad), modality=1))


def test_optisar_pairs(toy_hoss, tmp_path):
    ds = OptiSarPairDataset(str(toy_hoss / 'pairs'))
    assert len(ds) == 12 and ds.metainfo['num_ids'] == 6
    by_label = {}
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        by_label.setdefault(info['gt_label'], []).append(info)
    for infos in by_label.values():
        assert sorted(d['modality'] for d in infos) == [0, 1]
        names = [d['img_path'].rsplit('/', 1)[1] for d in infos]
        assert names[0].split('_')[1] == names[1].split('_')[1]
    _touch(tmp_path / 'p' / '0000' / 'S1_00001_RGB.png')
    with pytest.raises(ValueError, match='S1_00001_RGB.png.*no SAR'):
        OptiSarPairDataset(str(tmp_path / 'p'))


class _Labels:

    def __init__(self, labels):
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def get_data_info(self, idx):
        return dict(gt_label=self.labels[idx])


def test_identity_sampler():
    # id 0: 9 images, id 1: 4, id 2: 1 (sampled with replacement), id 3: 6.
    labels = [0] * 9 + [1] * 4 + [2] + [3] * 6
    data = _Labels(labels)
    sampler = IdentitySampler(data, num_ids=2, num_instances=4, seed=3)
    indices = list(sampler)
    # Chunks: 2 + 1 + 1 + 1 = 5 -> 2 batches of 8.
    assert len(indices) == len(sampler) == 16
    for b in range(0, len(indices), 8):
        batch = [labels[i] for i in indices[b:b + 8]]
        counts = Counter(batch)
        assert len(counts) == 2 and set(counts.values()) == {4}
    for b in range(0, len(indices), 4):  # id 2 (one image) fills a chunk
        if labels[indices[b]] == 2:
            assert indices[b:b + 4] == [13] * 4
    assert indices == list(sampler)  # same epoch, same order
    sampler.set_epoch(1)
    assert indices != list(sampler)
    with pytest.raises(ValueError, match='fewer than num_ids'):
        IdentitySampler(data, num_ids=5, num_instances=2, seed=0)


def test_random_pad_crop_is_a_bounded_zero_filled_shift():
    from mmosar.datasets import RandomPadCrop
    rng = np.random.default_rng(0)
    img = rng.integers(1, 255, size=(12, 6, 3), dtype=np.uint8)
    padded = np.pad(img, ((3, 3), (3, 3), (0, 0)))  # reference: np.pad
    for _ in range(10):
        out = RandomPadCrop(padding=3)(dict(img=img.copy()))['img']
        assert out.shape == img.shape
        windows = [(dy, dx) for dy in range(7) for dx in range(7)
                   if np.array_equal(padded[dy:dy + 12, dx:dx + 6], out)]
        assert windows  # the output is one window of the padded image


def test_pack_reid_sample_with_mmpretrain_pack_inputs():
    from mmosar.registry import TRANSFORMS
    img = np.arange(24, dtype=np.uint8).reshape(4, 2, 3)
    pack = TRANSFORMS.build(
        dict(type='mmpretrain.PackInputs', meta_keys=('modality',
                                                      'ship_size')))
    out = pack(
        dict(img=img, gt_label=5, modality=1, ship_size=np.ones(3)))
    assert out['inputs'].shape == (3, 4, 2)
    assert int(out['inputs'][2, 3, 1]) == int(img[3, 1, 2])
    sample = out['data_samples']
    assert int(sample.gt_label) == 5 and sample.modality == 1
