"""HOSS ReID (optical <-> SAR ship re-identification) dataset and loading.

Layout (``data_root``)::

    bounding_box_train/   training chips
    bounding_box_test/    gallery of the ALL protocol
    query/                queries of the ALL protocol
    subset/O2S/{query,bounding_box_test}/   optical -> SAR protocol
    subset/S2O/{query,bounding_box_test}/   SAR -> optical protocol

A chip is named ``<ship id>_<anything>_<RGB|SAR>.tif``: the integer before
the first underscore is the ship id and the last token the modality.
Optical chips are RGB; SAR chips are single-band float32 GeoTIFFs.
"""
import logging
import os.path as osp
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mmosar.registry import DATASETS

OPTICAL, SAR = 0, 1
MODALITY_SUFFIXES = {'RGB': OPTICAL, 'SAR': SAR}
IMG_EXTENSIONS = ('.tif', '.tiff', '.png', '.jpg', '.jpeg', '.bmp')


def list_images(folder: str) -> List[Path]:
    """Sorted image files of ``folder``; an error if it is missing/empty."""
    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f'image folder not found: {folder}')
    files = sorted(p for p in path.iterdir()
                   if p.suffix.lower() in IMG_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f'no images ({", ".join(IMG_EXTENSIONS)}) '
                                f'in {folder}')
    return files


def parse_modality(path: Path) -> int:
    """Modality id from the ``_RGB`` / ``_SAR`` suffix of a file name."""
    suffix = path.stem.rsplit('_', 1)[-1].upper()
    if '_' not in path.stem or suffix not in MODALITY_SUFFIXES:
        raise ValueError(f'{path}: file name must end with _RGB or _SAR '
                         'before the extension')
    return MODALITY_SUFFIXES[suffix]


def parse_hoss_name(path: Path) -> Tuple[int, int]:
    """Ship id and modality id of a HOSS chip.

    Args:
        path (Path): Chip file, e.g. ``0123_xxx_RGB.tif``.

    Returns:
        tuple[int, int]: ``(ship_id, modality)`` with modality 0 optical,
        1 SAR.

    Raises:
        ValueError: If the name does not follow the HOSS convention.
    """
    head = path.stem.split('_', 1)[0]
    try:
        ship_id = int(head)
    except ValueError:
        raise ValueError(f'{path}: file name must start with an integer '
                         f'ship id followed by "_", got "{head}"') from None
    return ship_id, parse_modality(path)


@DATASETS.register_module()
class HOSSDataset(BaseDataset):
    """HOSS ReID dataset: training chips, or query/gallery protocols.

    ``split='train'`` lists ``bounding_box_train/`` with ship ids relabelled
    to 0..N-1 (``gt_label``; the raw id is kept as ``ship_id``).

    ``split='test'`` lists, for each name in ``protocols``, that protocol's
    query and gallery images, tagged with ``protocol`` and ``role``
    (``'query'`` / ``'gallery'``) and with the raw ship id as ``gt_label``.
    An image may appear in several protocols; it is then embedded once per
    protocol. :class:`CrossModalReIDMetric` scores each protocol, so a
    single test run reports ALL, O->S and S->O. Queries whose id has no
    gallery image are kept, counted here (a warning) and skipped by the
    metric; a protocol with no matchable query is an error.

    Args:
        data_root (str): HOSS root folder.
        split (str): ``'train'`` or ``'test'``.
        protocols (Sequence[str]): Test protocols, keys of
            ``protocol_folders``. Defaults to ('ALL', 'O2S', 'S2O').
        protocol_folders (dict, optional): Protocol name -> folder (relative
            to ``data_root``) holding ``query/`` and ``bounding_box_test/``.
            Defaults to ALL: ``.``, O2S: ``subset/O2S``, S2O: ``subset/S2O``.
        pipeline (Sequence[dict]): Data pipeline.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """
    DEFAULT_PROTOCOL_FOLDERS = {
        'ALL': '.',
        'O2S': osp.join('subset', 'O2S'),
        'S2O': osp.join('subset', 'S2O'),
    }
    METAINFO = dict(modalities=('optical', 'sar'))

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 protocols: Sequence[str] = ('ALL', 'O2S', 'S2O'),
                 protocol_folders: Optional[Dict[str, str]] = None,
                 pipeline: Sequence[dict] = (),
                 **kwargs) -> None:
        if split not in ('train', 'test'):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.split = split
        self.protocol_folders = dict(protocol_folders or
                                     self.DEFAULT_PROTOCOL_FOLDERS)
        unknown = set(protocols) - set(self.protocol_folders)
        if unknown:
            raise ValueError(f'unknown protocols {sorted(unknown)}; known: '
                             f'{sorted(self.protocol_folders)}')
        self.protocols = tuple(protocols)
        super().__init__(
            data_root=data_root, pipeline=list(pipeline), **kwargs)

    def load_data_list(self) -> List[dict]:
        """List the images of the split."""
        if self.split == 'train':
            return self._load_train()
        data_list = []
        for protocol in self.protocols:
            data_list.extend(self._load_protocol(protocol))
        return data_list

    def _load_train(self) -> List[dict]:
        folder = osp.join(self.data_root, 'bounding_box_train')
        parsed = [(p, *parse_hoss_name(p)) for p in list_images(folder)]
        label_of = {
            sid: label
            for label, sid in enumerate(sorted({s for _, s, _ in parsed}))
        }
        self._metainfo['num_ids'] = len(label_of)
        print_log(
            f'HOSS train: {len(parsed)} chips of {len(label_of)} ship ids '
            f'({folder})',
            logger='current')
        return [
            dict(img_path=str(p), gt_label=label_of[sid], ship_id=sid,
                 modality=mod) for p, sid, mod in parsed
        ]

    def _load_protocol(self, protocol: str) -> List[dict]:
        root = osp.join(self.data_root, self.protocol_folders[protocol])
        items = {}
        for role, sub in (('query', 'query'), ('gallery',
                                               'bounding_box_test')):
            items[role] = [
                dict(img_path=str(p), gt_label=sid, ship_id=sid,
                     modality=mod, role=role, protocol=protocol)
                for p in list_images(osp.join(root, sub))
                for sid, mod in [parse_hoss_name(p)]
            ]
        gallery_ids = {d['ship_id'] for d in items['gallery']}
        unmatched = sum(d['ship_id'] not in gallery_ids
                        for d in items['query'])
        if unmatched == len(items['query']):
            raise ValueError(f'{protocol} ({root}): no query id occurs in '
                             'the gallery')
        if unmatched:
            print_log(
                f'{protocol}: {unmatched} of {len(items["query"])} queries '
                'have no gallery image of their id; the metric skips them',
                logger='current',
                level=logging.WARNING)
        return items['query'] + items['gallery']
