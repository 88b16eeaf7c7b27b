"""Cross-modal (optical <-> SAR) re-identification metric."""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmosar.registry import METRICS

from ..functional.reid import eval_reid


@METRICS.register_module()
class CrossModalReIDMetric(BaseMetric):
    """mAP and CMC of every query/gallery protocol found in one test set.

    Each data sample must carry ``pred_feature`` (the embedding, shape (C,)),
    ``gt_label`` (identity), and in its metainfo ``modality`` (0 optical,
    1 SAR), ``role`` (``'query'`` or ``'gallery'``) and ``protocol`` (a
    name such as ``'ALL'``, ``'O2S'`` or ``'S2O'``). :class:`HOSSDataset`
    in test mode lists the query and gallery images of every requested
    protocol (its folders), so one test run reports all protocols; within a
    protocol every query is ranked against every gallery item by the
    squared Euclidean distance between L2-normalised features.

    Reported keys (percent): ``{protocol}_mAP`` and ``{protocol}_R{k}`` for
    ``k`` in ``rank_list``.

    Args:
        rank_list (Sequence[int]): CMC ranks to report. Defaults to
            (1, 5, 10).
        max_rank (int): Length of the CMC curve. Defaults to 50.
        filter_same_modality (bool): Drop gallery items that share identity
            and modality with the query (Market-1501's same-camera rule).
            Defaults to False, as in the HOSS protocol.
        normalize_features (bool): L2-normalise features before computing
            distances. Defaults to True.
        collect_device (str): Device used to gather results across ranks.
        prefix (str, optional): Prefix of the metric names. Defaults to
            ``'reid'``.
    """
    default_prefix: Optional[str] = 'reid'

    def __init__(self,
                 rank_list: Sequence[int] = (1, 5, 10),
                 max_rank: int = 50,
                 filter_same_modality: bool = False,
                 normalize_features: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if any(k < 1 or k > max_rank for k in rank_list):
            raise ValueError(f'rank_list {tuple(rank_list)} must lie in '
                             f'[1, max_rank={max_rank}]')
        self.rank_list = tuple(rank_list)
        self.max_rank = max_rank
        self.filter_same_modality = filter_same_modality
        self.normalize_features = normalize_features

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Store feature, identity, modality, role and protocol per sample."""
        for sample in data_samples:
            for key in ('modality', 'role', 'protocol'):
                if key not in sample:
                    raise KeyError(
                        f'data sample of {sample.get("img_path", "?")} has '
                        f'no "{key}" (pack it as a meta key)')
            label = sample['gt_label']
            self.results.append(
                dict(
                    feature=sample['pred_feature'].detach().float().cpu(),
                    pid=int(label.item() if isinstance(label, torch.Tensor)
                            else label),
                    modality=int(sample['modality']),
                    role=sample['role'],
                    protocol=sample['protocol']))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Evaluate each protocol separately."""
        logger = MMLogger.get_current_instance()
        protocols = list(OrderedDict.fromkeys(r['protocol'] for r in results))
        metrics = OrderedDict()
        for protocol in protocols:
            subset = [r for r in results if r['protocol'] == protocol]
            query = [r for r in subset if r['role'] == 'query']
            gallery = [r for r in subset if r['role'] == 'gallery']
            if not query or not gallery:
                raise ValueError(f'protocol {protocol} has {len(query)} '
                                 f'queries and {len(gallery)} gallery items')
            scores = eval_reid(
                self._distances(query, gallery),
                np.array([r['pid'] for r in query]),
                np.array([r['pid'] for r in gallery]),
                q_modalities=np.array([r['modality'] for r in query]),
                g_modalities=np.array([r['modality'] for r in gallery]),
                max_rank=self.max_rank,
                filter_same_modality=self.filter_same_modality)
            if scores['num_skipped_queries']:
                logger.warning(
                    f'{protocol}: {scores["num_skipped_queries"]} of '
                    f'{len(query)} queries have no gallery match and were '
                    'skipped')
            metrics[f'{protocol}_mAP'] = float(scores['mAP'] * 100)
            cmc = scores['cmc']
            for k in self.rank_list:
                metrics[f'{protocol}_R{k}'] = float(
                    cmc[min(k, len(cmc)) - 1] * 100)
        return metrics

    def _distances(self, query: List[dict],
                   gallery: List[dict]) -> np.ndarray:
        """Squared Euclidean distances, shape (Q, G)."""
        q = torch.stack([r['feature'] for r in query]).double()
        g = torch.stack([r['feature'] for r in gallery]).double()
        if self.normalize_features:
            q = torch.nn.functional.normalize(q, dim=1)
            g = torch.nn.functional.normalize(g, dim=1)
        dist = (q * q).sum(1, keepdim=True) + (g * g).sum(1)[None] \
            - 2 * q @ g.t()
        return dist.numpy()
