"""Datasets for cross-modal patch retrieval and localisation (CMPC).

A retrieval dataset has *references* (optical patches with known positions,
the database) and *queries* (SAR patches); every query has exactly one
correct reference. ``mode`` selects what the dataset yields:

- ``'pair'`` (training): one item per query with
  ``img_path = [sar_path, optical_path]`` and ``gt_label`` = the index of
  the location; the pipeline must produce ``img`` as a list of two images
  (e.g. ``TransformBroadcaster``).
- ``'reference'`` / ``'query'``: single images of one role.
- ``'all'`` (evaluation of embeddings): all references, then all queries.

Single-image items carry ``role``, ``modality``, ``ref_index`` (references)
or ``gt_ref_index`` (queries) and ``pos`` (x, y in metres, when known).
``metainfo['reference_positions']`` holds the (R, 2) reference positions.
"""
import csv
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset
from mmengine.fileio import list_dir_or_file
from mmpretrain.structures import DataSample

from mmosar.registry import DATASETS, TRANSFORMS

MODALITIES = ('sar', 'optical')


class CrossModalRetrievalDataset(BaseDataset):
    """Base class: turns references and queries into data items.

    Subclasses implement :meth:`load_locations`.

    Args:
        mode (str): ``'pair'``, ``'query'``, ``'reference'`` or ``'all'``.
            Defaults to ``'pair'``.
        query_modality (str): ``'sar'`` (CMPC) or ``'optical'``. Defaults to
            ``'sar'``.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """
    MODES = ('pair', 'query', 'reference', 'all')

    def __init__(self,
                 mode: str = 'pair',
                 query_modality: str = 'sar',
                 **kwargs) -> None:
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, got {mode!r}')
        if query_modality not in MODALITIES:
            raise ValueError(f'query_modality must be one of {MODALITIES}, '
                             f'got {query_modality!r}')
        self.mode = mode
        self.query_modality = query_modality
        self.reference_modality = 'optical' if query_modality == 'sar' \
            else 'sar'
        super().__init__(**kwargs)

    def load_locations(self) -> Tuple[List[dict], List[dict]]:
        """References and queries.

        Returns:
            tuple[list[dict], list[dict]]: Each dict has ``key`` (location
            id; a query's key names its correct reference), ``img_path``,
            ``pos`` (np.ndarray (2,) or None) and ``source`` (file named in
            error messages).
        """
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        """Index references, check queries, build the items of ``mode``."""
        refs, queries = self.load_locations()
        if not refs or not queries:
            raise ValueError(f'{type(self).__name__}: found {len(refs)} '
                             f'references and {len(queries)} queries under '
                             f'{self.data_root}')
        ref_index: Dict = {}
        for i, ref in enumerate(refs):
            if ref['key'] in ref_index:
                first = refs[ref_index[ref['key']]]['source']
                raise ValueError(f'duplicate reference id {ref["key"]!r} in '
                                 f'{ref["source"]} (also in {first})')
            ref_index[ref['key']] = i
        for query in queries:
            if query['key'] not in ref_index:
                raise ValueError(f'query {query["source"]} refers to '
                                 f'reference id {query["key"]!r}, which has '
                                 'no reference patch')
        has_pos = all(r['pos'] is not None for r in refs + queries)
        self._metainfo.update(
            num_references=len(refs),
            reference_positions=np.stack([r['pos'] for r in refs])
            if has_pos else None)

        def item(entry: dict, role: str) -> dict:
            out = dict(
                img_path=entry['img_path'],
                role=role,
                modality=self.query_modality
                if role == 'query' else self.reference_modality)
            if role == 'query':
                out['gt_ref_index'] = ref_index[entry['key']]
            else:
                out['ref_index'] = ref_index[entry['key']]
            if has_pos:
                out['pos'] = entry['pos']
            return out

        if self.mode == 'pair':
            data_list = []
            for query in queries:
                index = ref_index[query['key']]
                paths = [query['img_path'], refs[index]['img_path']]
                if self.query_modality != 'sar':
                    paths = paths[::-1]  # always [sar, optical]
                data_list.append(
                    dict(img_path=paths, gt_label=index, gt_ref_index=index))
            return data_list
        data_list = []
        if self.mode in ('reference', 'all'):
            data_list += [item(r, 'reference') for r in refs]
        if self.mode in ('query', 'all'):
            data_list += [item(q, 'query') for q in queries]
        return data_list


def _check_image(path: str, source: str) -> str:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{source}: image {path} does not exist')
    return path


@DATASETS.register_module()
class SN6CMPCDataset(CrossModalRetrievalDataset):
    """SN6-CMPC (SpaceNet-6 Rotterdam) SAR-to-optical localisation dataset.

    Layout (``data_root`` e.g. ``data/SN6-CMPC/samearea``)::

        <split>/annotations/opt/*.json   optical references
        <split>/annotations/sar/*.json   SAR queries
        <split>/imgs/opt/<file_path>     optical patches
        <split>/imgs/sar/<file_path>     SAR patches

    Each JSON file holds one entry (or a list of entries) with ``id`` (int;
    for SAR the id of the matching optical cell), ``pos`` (``{"x", "y"}``,
    metres), ``file_path`` (image name) and ``near_id`` (ids of nearby
    optical cells; kept as ``near_ids``, not used by CMPC's main setting).

    Args:
        split (str): Sub-folder, e.g. ``'train'`` or ``'test'``.
        **kwargs: :class:`CrossModalRetrievalDataset` arguments.
    """

    def __init__(self, split: str = 'train', **kwargs) -> None:
        self.split = split
        super().__init__(**kwargs)

    @staticmethod
    def _parse_entry(entry, source: str, img_dir: str) -> dict:
        if not isinstance(entry, dict):
            raise ValueError(f'{source}: entry is a {type(entry).__name__}, '
                             'expected an object')
        for key in ('id', 'pos', 'file_path'):
            if key not in entry:
                raise ValueError(f'{source}: missing field "{key}"')
        if isinstance(entry['id'], bool) or not isinstance(entry['id'], int):
            raise ValueError(f'{source}: "id" must be an integer, got '
                             f'{entry["id"]!r}')
        pos = entry['pos']
        if not (isinstance(pos, dict) and all(
                isinstance(pos.get(k), (int, float))
                and not isinstance(pos.get(k), bool) for k in ('x', 'y'))):
            raise ValueError(f'{source}: "pos" must be {{"x": number, '
                             f'"y": number}}, got {pos!r}')
        near_ids = entry.get('near_id', [])
        if not isinstance(near_ids, list):
            raise ValueError(f'{source}: "near_id" must be a list, got '
                             f'{near_ids!r}')
        if not isinstance(entry['file_path'], str):
            raise ValueError(f'{source}: "file_path" must be a string')
        return dict(
            key=entry['id'],
            img_path=_check_image(
                osp.join(img_dir, entry['file_path']), source),
            pos=np.array([pos['x'], pos['y']], dtype=np.float64),
            near_ids=near_ids,
            source=source)

    def _load_modality(self, folder: str) -> List[dict]:
        ann_dir = osp.join(self.data_root, self.split, 'annotations', folder)
        img_dir = osp.join(self.data_root, self.split, 'imgs', folder)
        if not osp.isdir(ann_dir):
            raise FileNotFoundError(f'annotation folder {ann_dir} not found')
        entries = []
        for name in sorted(list_dir_or_file(ann_dir, suffix='.json',
                                            list_dir=False)):
            json_path = osp.join(ann_dir, name)
            try:
                with open(json_path) as f:
                    content = json.load(f)
            except json.JSONDecodeError as err:
                raise ValueError(f'{json_path}: invalid JSON ({err})') \
                    from err
            items = content if isinstance(content, list) else [content]
            for k, entry in enumerate(items):
                source = json_path if len(items) == 1 and not isinstance(
                    content, list) else f'{json_path} entry {k}'
                entries.append(self._parse_entry(entry, source, img_dir))
        return entries

    def load_locations(self) -> Tuple[List[dict], List[dict]]:
        opt = self._load_modality('opt')
        sar = self._load_modality('sar')
        return (opt, sar) if self.query_modality == 'sar' else (sar, opt)


@DATASETS.register_module()
class PairedRetrievalDataset(CrossModalRetrievalDataset):
    """Any folder of co-registered optical/SAR patches paired by file name.

    Layout: ``<data_root>/<opt_dir>/<name>`` and ``<data_root>/<sar_dir>/
    <name>``; same name = same place. With a metadata CSV (``meta_file``,
    e.g. ``pairs.csv`` of 3MOS) its ``file`` column lists the pairs, rows
    can be filtered with ``meta_filter`` (``{column: allowed values}``), and
    numeric ``x``/``y`` columns, when present, are positions in metres.
    Without it, every image of ``opt_dir`` is a pair.

    Args:
        opt_dir (str): Defaults to ``'opt'``.
        sar_dir (str): Defaults to ``'sar'``.
        meta_file (str, optional): CSV under ``data_root``. Defaults to
            None.
        meta_filter (dict, optional): e.g. ``dict(sar_sensor=['GF3'])``.
        suffixes (Sequence[str]): Image suffixes when listing folders.
        **kwargs: :class:`CrossModalRetrievalDataset` arguments.
    """

    def __init__(self,
                 opt_dir: str = 'opt',
                 sar_dir: str = 'sar',
                 meta_file: Optional[str] = None,
                 meta_filter: Optional[Dict[str, Sequence]] = None,
                 suffixes: Sequence[str] = ('.png', '.jpg', '.tif', '.tiff'),
                 **kwargs) -> None:
        self.opt_dir = opt_dir
        self.sar_dir = sar_dir
        self.meta_file = meta_file
        self.meta_filter = meta_filter or {}
        self.suffixes = tuple(suffixes)
        super().__init__(**kwargs)

    def _rows(self) -> List[dict]:
        if self.meta_file is None:
            if self.meta_filter:
                raise ValueError('meta_filter needs a meta_file')
            names = sorted(
                list_dir_or_file(
                    osp.join(self.data_root, self.opt_dir),
                    suffix=self.suffixes,
                    list_dir=False))
            return [dict(file=name, _line=None) for name in names]
        path = osp.join(self.data_root, self.meta_file)
        with open(path, newline='') as f:
            reader = csv.DictReader(f)
            if 'file' not in (reader.fieldnames or []):
                raise ValueError(f'{path}: no "file" column')
            rows = []
            for line, row in enumerate(reader, start=2):
                row['_line'] = f'{path}:{line}'
                for column in self.meta_filter:
                    if column not in row:
                        raise ValueError(
                            f'{path}: meta_filter column "{column}" missing')
                if all(row[c] in set(map(str, v))
                       for c, v in self.meta_filter.items()):
                    rows.append(row)
        return rows

    @staticmethod
    def _position(row: dict) -> Optional[np.ndarray]:
        if row.get('x') in (None, '') or row.get('y') in (None, ''):
            return None
        try:
            return np.array([float(row['x']), float(row['y'])])
        except ValueError as err:
            raise ValueError(f'{row["_line"]}: non-numeric x/y '
                             f'({row["x"]!r}, {row["y"]!r})') from err

    def load_locations(self) -> Tuple[List[dict], List[dict]]:
        opt, sar = [], []
        for row in self._rows():
            name = row['file']
            source = row['_line'] or osp.join(self.data_root, self.opt_dir,
                                              name)
            opt_path = osp.join(self.data_root, self.opt_dir, name)
            sar_path = osp.join(self.data_root, self.sar_dir, name)
            for path in (opt_path, sar_path):
                if not osp.isfile(path):
                    raise FileNotFoundError(
                        f'{source}: pair "{name}" has no partner image '
                        f'{path}')
            pos = self._position(row)
            opt.append(dict(key=name, img_path=opt_path, pos=pos,
                            source=source))
            sar.append(dict(key=name, img_path=sar_path, pos=pos,
                            source=source))
        return (opt, sar) if self.query_modality == 'sar' else (sar, opt)


def save_embedding_cache(path: str, **arrays) -> None:
    """Write an embedding cache (``.npz``, no pickled objects).

    Keys: ``ref_feats`` (R, C) is required; optional ``ref_pos`` (R, 2),
    ``ref_paths`` (R,), ``query_feats`` (Q, C), ``query_gt_index`` (Q,),
    ``query_pos`` (Q, 2), ``query_paths`` (Q,). None values are skipped.
    """
    arrays = {k: np.asarray(v) for k, v in arrays.items() if v is not None}
    if 'ref_feats' not in arrays:
        raise ValueError('an embedding cache needs ref_feats')
    np.savez(path, **arrays)


def load_embedding_cache(path: str, require_queries: bool = False) -> dict:
    """Read and check an embedding cache written by
    :func:`save_embedding_cache`.

    Args:
        path (str): ``.npz`` file.
        require_queries (bool): Also require query features and indices.

    Returns:
        dict[str, np.ndarray]: The arrays.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'embedding cache {path} not found; create '
                                'it with tools/cmpc/embed_database.py')
    with np.load(path, allow_pickle=False) as data:
        cache = {k: data[k] for k in data.files}
    required = ['ref_feats'] + (['query_feats', 'query_gt_index']
                                if require_queries else [])
    for key in required:
        if key not in cache:
            raise ValueError(f'{path}: missing array "{key}"')
    num_refs = len(cache['ref_feats'])
    if 'ref_pos' in cache and cache['ref_pos'].shape != (num_refs, 2):
        raise ValueError(f'{path}: ref_pos has shape {cache["ref_pos"].shape}'
                         f', expected ({num_refs}, 2)')
    if 'query_gt_index' in cache:
        gt = cache['query_gt_index']
        if len(gt) != len(cache.get('query_feats', gt)) or (
                len(gt) and (gt.min() < 0 or gt.max() >= num_refs)):
            raise ValueError(f'{path}: query_gt_index does not match the '
                             f'{num_refs} references / query features')
    return cache


@DATASETS.register_module()
class CMPCEmbeddingCacheDataset(BaseDataset):
    """Cached query embeddings for training/evaluating the graph refinement.

    Each item is ``dict(inputs=feature (C,), data_samples=DataSample)`` with
    ``gt_ref_index`` and, when known, ``pos`` in the data sample; use
    ``collate_fn=dict(type='default_collate')``.
    ``metainfo['reference_positions']`` comes from the same cache.

    Args:
        cache_file (str): ``.npz`` written by ``tools/cmpc/embed_database.py
            --with-queries``.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    def __init__(self, cache_file: str, **kwargs) -> None:
        self.cache_file = cache_file
        kwargs.setdefault('serialize_data', False)
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        cache = load_embedding_cache(self.cache_file, require_queries=True)
        self._metainfo.update(
            num_references=len(cache['ref_feats']),
            reference_positions=cache.get('ref_pos'))
        query_pos = cache.get('query_pos')
        data_list = []
        for i, feat in enumerate(cache['query_feats']):
            item = dict(
                feature=feat.astype(np.float32),
                gt_ref_index=int(cache['query_gt_index'][i]))
            if query_pos is not None:
                item['pos'] = query_pos[i]
            data_list.append(item)
        return data_list

    def prepare_data(self, idx: int) -> dict:
        info = self.get_data_info(idx)
        sample = DataSample(
            metainfo={k: v
                      for k, v in info.items() if k != 'feature'})
        return dict(inputs=torch.from_numpy(info['feature']),
                    data_samples=sample)


@TRANSFORMS.register_module()
class PackRetrievalInputs(BaseTransform):
    """Pack one image, or the [SAR, optical] images of a pair, for a
    retrieval model.

    ``inputs`` becomes a (C, H, W) uint8 tensor, or a list of them when
    ``results['img']`` is a list (pair items); ``data_samples`` is a
    :class:`mmpretrain.structures.DataSample` with ``gt_label`` (when
    present) and the ``meta_keys`` found in ``results`` as metainfo.

    Args:
        meta_keys (Sequence[str]): Keys copied into the data sample.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('img_path', 'role', 'modality',
                                             'ref_index', 'gt_ref_index',
                                             'pos')) -> None:
        self.meta_keys = tuple(meta_keys)

    @staticmethod
    def _to_tensor(img: np.ndarray) -> torch.Tensor:
        if img.ndim == 2:
            img = img[..., None]
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))

    def transform(self, results: dict) -> dict:
        img = results['img']
        inputs = [self._to_tensor(i) for i in img] if isinstance(
            img, list) else self._to_tensor(img)
        sample = DataSample()
        if 'gt_label' in results:
            sample.set_gt_label(results['gt_label'])
        sample.set_metainfo(
            {k: results[k]
             for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
