"""OptiSar_Pair: co-registered optical/SAR pairs for TransOSS pretraining."""
from collections import defaultdict
from pathlib import Path
from typing import List, Sequence

from mmengine.dataset import BaseDataset

from mmosar.registry import DATASETS

from .hoss import OPTICAL, SAR, list_images, parse_modality


def parse_pair_name(path: Path) -> str:
    """Pair id of an OptiSar_Pair image: the second underscore token.

    Args:
        path (Path): Image file, e.g. ``s2_1234_xxx_RGB.png``.

    Raises:
        ValueError: If the name has fewer than three underscore tokens.
    """
    tokens = path.stem.split('_')
    if len(tokens) < 3 or not tokens[1]:
        raise ValueError(f'{path}: expected <prefix>_<pair id>_..._<RGB|SAR>'
                         ' (pair id = second underscore token)')
    return tokens[1]


@DATASETS.register_module()
class OptiSarPairDataset(BaseDataset):
    """Optical/SAR pair folders (``data_root/<folder>/<images>``).

    Each image is one sample with ``modality`` (from the ``_RGB`` /
    ``_SAR`` suffix) and ``gt_label``, a dense index of its pair (folder name
    + pair id, the second underscore token of the file name). Every pair
    must have exactly one optical and one SAR image. Batches for
    :class:`OptiSarContrastive` come from :class:`IdentitySampler` with
    ``num_instances=2`` (one pair = one identity).

    Args:
        data_root (str): Root holding the pair folders.
        pipeline (Sequence[dict]): Data pipeline.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.
    """
    METAINFO = dict(modalities=('optical', 'sar'))

    def __init__(self, data_root: str, pipeline: Sequence[dict] = (),
                 **kwargs) -> None:
        super().__init__(
            data_root=data_root, pipeline=list(pipeline), **kwargs)

    def load_data_list(self) -> List[dict]:
        """List every image with its pair label and modality."""
        root = Path(self.data_root)
        folders = sorted(p for p in root.iterdir() if p.is_dir()) \
            if root.is_dir() else []
        if not folders:
            raise FileNotFoundError(f'no pair folders under {root}')
        pairs = defaultdict(dict)
        for folder in folders:
            for path in list_images(str(folder)):
                key = (folder.name, parse_pair_name(path))
                modality = parse_modality(path)
                if modality in pairs[key]:
                    raise ValueError(
                        f'{path}: pair {key[1]} in {folder} has a second '
                        f'{"optical" if modality == OPTICAL else "SAR"} '
                        f'image ({pairs[key][modality]})')
                pairs[key][modality] = path
        data_list = []
        for label, key in enumerate(sorted(pairs)):
            if set(pairs[key]) != {OPTICAL, SAR}:
                (only, path), = pairs[key].items()
                raise ValueError(f'{path}: pair {key[1]} in {key[0]} has no '
                                 f'{"SAR" if only == OPTICAL else "optical"} '
                                 'partner')
            for modality in (OPTICAL, SAR):
                data_list.append(
                    dict(img_path=str(pairs[key][modality]),
                         gt_label=label, modality=modality))
        self._metainfo['num_ids'] = len(pairs)
        return data_list
