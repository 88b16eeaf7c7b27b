"""SN6CMPCDataset, PairedRetrievalDataset, the embedding cache and the toy
SN6-CMPC generator."""
import csv
import importlib.util
import json

import numpy as np
import pytest

from mmosar.datasets import (
    CMPCEmbeddingCacheDataset,
    PairedRetrievalDataset,
    SN6CMPCDataset,
)
from mmosar.datasets.cmpc import load_embedding_cache, save_embedding_cache


def _load_toy_tool(repo_root):
    spec = importlib.util.spec_from_file_location(
        'make_toy_sn6cmpc', repo_root / 'tools/data/make_toy_sn6cmpc.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_toy_sn6cmpc


def test_paired_dataset_on_3mos(shared_data):
    root = shared_data / '3mos_pairs'
    with open(root / 'pairs.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    pairs = PairedRetrievalDataset(
        data_root=str(root), meta_file='pairs.csv', mode='pair',
        pipeline=[])
    assert len(pairs) == len(rows)
    item = pairs.get_data_info(3)
    assert item['img_path'][0].endswith('sar/' + rows[3]['file'])
    assert item['img_path'][1].endswith('opt/' + rows[3]['file'])
    assert item['gt_label'] == 3
    both = PairedRetrievalDataset(
        data_root=str(root), meta_file='pairs.csv', mode='all',
        meta_filter=dict(sar_sensor=['GF3']), pipeline=[])
    num_gf3 = sum(r['sar_sensor'] == 'GF3' for r in rows)
    assert len(both) == 2 * num_gf3
    roles = [both.get_data_info(i)['role'] for i in range(len(both))]
    assert roles == ['reference'] * num_gf3 + ['query'] * num_gf3
    assert both.metainfo['reference_positions'] is None


def test_paired_dataset_missing_partner(tmp_path):
    for sub in ('opt', 'sar'):
        (tmp_path / sub).mkdir()
    for name in ('a.png', 'b.png'):
        (tmp_path / 'opt' / name).write_bytes(b'x')
    (tmp_path / 'sar' / 'a.png').write_bytes(b'x')
    with pytest.raises(FileNotFoundError, match=r'b\.png'):
        PairedRetrievalDataset(data_root=str(tmp_path), pipeline=[])


@pytest.fixture
def toy_sn6(shared_data, repo_root, tmp_path):
    make = _load_toy_tool(repo_root)
    counts = make(str(shared_data / '3mos_pairs'), str(tmp_path / 'toy'),
                  max_per_strip=3)
    return tmp_path / 'toy', counts


def test_sn6cmpc_dataset_on_toy_folder(toy_sn6):
    root, counts = toy_sn6
    data = SN6CMPCDataset(
        data_root=str(root), split='test', mode='all', pipeline=[])
    num = counts['test']
    assert len(data) == 2 * num
    ref_pos = data.metainfo['reference_positions']
    assert ref_pos.shape == (num, 2)
    for i in range(num, 2 * num):
        query = data.get_data_info(i)
        ref = data.get_data_info(query['gt_ref_index'])
        # the generator puts queries within 25 m per axis of their cell
        assert np.abs(query['pos'] - ref['pos']).max() <= 25
        # the generator names both images of a location after its id
        assert query['img_path'].split('/')[-1] == \
            ref['img_path'].split('/')[-1]
        assert (query['role'], ref['role']) == ('query', 'reference')


def test_sn6cmpc_malformed_entry_names_file(toy_sn6):
    root, _ = toy_sn6
    bad = root / 'train/annotations/sar/q_1.json'
    bad.write_text(json.dumps(dict(id=1, file_path='1.png')))
    with pytest.raises(ValueError, match=r'q_1\.json.*"pos"'):
        SN6CMPCDataset(data_root=str(root), split='train', pipeline=[])
    bad.write_text('{"id": 1,')
    with pytest.raises(ValueError, match=r'q_1\.json: invalid JSON'):
        SN6CMPCDataset(data_root=str(root), split='train', pipeline=[])


def test_sn6cmpc_query_without_reference(toy_sn6):
    root, _ = toy_sn6
    (root / 'train/annotations/opt/2.json').unlink()
    with pytest.raises(ValueError, match=r'q_2\.json refers to reference id'):
        SN6CMPCDataset(data_root=str(root), split='train', pipeline=[])


def test_sn6cmpc_missing_image(toy_sn6):
    root, _ = toy_sn6
    (root / 'train/imgs/sar/0.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'q_0\.json.*0\.png'):
        SN6CMPCDataset(data_root=str(root), split='train', pipeline=[])


def test_embedding_cache_roundtrip_and_dataset(tmp_path):
    path = str(tmp_path / 'cache.npz')
    save_embedding_cache(
        path,
        ref_feats=np.eye(4, 3),
        ref_pos=np.arange(8.).reshape(4, 2),
        query_feats=np.ones((2, 3)),
        query_gt_index=np.array([3, 1]),
        query_paths=['a.png', 'b.png'])
    data = CMPCEmbeddingCacheDataset(cache_file=path)
    assert len(data) == 2
    item = data[1]
    assert item['inputs'].shape == (3, )
    assert item['data_samples'].gt_ref_index == 1
    np.testing.assert_array_equal(data.metainfo['reference_positions'][3],
                                  [6, 7])
    save_embedding_cache(
        path, ref_feats=np.eye(2, 3), query_feats=np.ones((1, 3)),
        query_gt_index=np.array([5]))
    with pytest.raises(ValueError, match='query_gt_index'):
        load_embedding_cache(path, require_queries=True)
