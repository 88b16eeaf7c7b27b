"""Market-1501-style re-identification scores (mAP and CMC).

The protocol follows the one used by the HOSS ReID benchmark: every gallery
item is ranked for every query by distance, queries whose identity never
appears in the (filtered) gallery are skipped and counted, and by default no
gallery item is removed for sharing the query's camera (here: modality).
"""
from typing import Dict, Optional, Union

import numpy as np
from mmengine.logging import print_log


def eval_reid(distmat: np.ndarray,
              q_pids: np.ndarray,
              g_pids: np.ndarray,
              q_modalities: Optional[np.ndarray] = None,
              g_modalities: Optional[np.ndarray] = None,
              max_rank: int = 50,
              filter_same_modality: bool = False
              ) -> Dict[str, Union[float, int, np.ndarray]]:
    """Mean average precision and CMC curve of a query/gallery ranking.

    Args:
        distmat (np.ndarray): Query-to-gallery distances, shape (Q, G);
            smaller is more similar. Ties are broken by gallery order.
        q_pids (np.ndarray): Query identities, shape (Q,).
        g_pids (np.ndarray): Gallery identities, shape (G,).
        q_modalities (np.ndarray, optional): Query modality ids, shape (Q,).
            Only needed with ``filter_same_modality``.
        g_modalities (np.ndarray, optional): Gallery modality ids, shape (G,).
        max_rank (int): Length of the returned CMC curve. Clipped to G (with
            a log line) when the gallery is smaller. Defaults to 50.
        filter_same_modality (bool): Market-1501's junk rule with modality in
            place of camera: drop gallery items that share both the identity
            and the modality of the query. Defaults to False (the HOSS
            protocol keeps every gallery item).

    Returns:
        dict: ``mAP`` (float in [0, 1]), ``cmc`` (np.ndarray of shape
        (max_rank,), fraction of valid queries with a true match within the
        first k ranks), ``num_valid_queries`` and ``num_skipped_queries``
        (queries whose identity has no gallery match).

    Raises:
        ValueError: On inconsistent shapes, missing modality labels with
            ``filter_same_modality``, or when no query has a gallery match.
    """
    distmat = np.asarray(distmat, dtype=np.float64)
    q_pids = np.asarray(q_pids)
    g_pids = np.asarray(g_pids)
    if distmat.ndim != 2 or distmat.shape != (len(q_pids), len(g_pids)):
        raise ValueError(
            f'distmat has shape {distmat.shape} but there are {len(q_pids)} '
            f'query and {len(g_pids)} gallery identities')
    num_q, num_g = distmat.shape
    if num_g == 0:
        raise ValueError('the gallery is empty')
    if filter_same_modality:
        if q_modalities is None or g_modalities is None:
            raise ValueError('filter_same_modality needs q_modalities and '
                             'g_modalities')
        q_modalities = np.asarray(q_modalities)
        g_modalities = np.asarray(g_modalities)
        if q_modalities.shape != q_pids.shape or \
                g_modalities.shape != g_pids.shape:
            raise ValueError('modality labels must have one entry per '
                             'query / gallery item')
    if num_g < max_rank:
        print_log(
            f'gallery has {num_g} items, CMC is reported up to rank {num_g} '
            f'instead of {max_rank}', logger='current')
        max_rank = num_g

    order = np.argsort(distmat, axis=1, kind='stable')
    matches = g_pids[order] == q_pids[:, None]

    cmc_sum = np.zeros(max_rank, dtype=np.float64)
    ap_sum = 0.0
    num_valid = 0
    for q in range(num_q):
        hits = matches[q]
        if filter_same_modality:
            junk = (g_pids[order[q]] == q_pids[q]) & (
                g_modalities[order[q]] == q_modalities[q])
            hits = hits[~junk]
        num_rel = int(hits.sum())
        if num_rel == 0:
            continue
        num_valid += 1
        first_hit = int(np.argmax(hits))
        if first_hit < max_rank:
            cmc_sum[first_hit:] += 1.0
        hit_ranks = np.flatnonzero(hits) + 1  # 1-based ranks of true matches
        precision_at_hits = np.arange(1, num_rel + 1) / hit_ranks
        ap_sum += precision_at_hits.mean()

    if num_valid == 0:
        raise ValueError(
            f'none of the {num_q} queries has a matching identity in the '
            'gallery')
    return dict(
        mAP=ap_sum / num_valid,
        cmc=cmc_sum / num_valid,
        num_valid_queries=num_valid,
        num_skipped_queries=num_q - num_valid)
