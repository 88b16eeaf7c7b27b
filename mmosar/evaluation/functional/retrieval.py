"""Cross-modal patch retrieval and localisation measures (CMPC protocol).

Each query has exactly one correct reference (its ground-truth index), so
the cumulative match characteristic (CMC) equals Recall@K and the mean
average precision reduces to the mean reciprocal rank (MRR). Metre-level
localisation takes the position of the top-1 retrieved reference as the
estimate of the query position.

Ties are broken like a stable descending sort: among references with the
same score the one with the smaller index ranks first.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np


def _check_inputs(sim: np.ndarray, gt_index: np.ndarray) -> None:
    if sim.ndim != 2:
        raise ValueError(
            f'sim must be a (num_queries, num_references) matrix, got shape '
            f'{sim.shape}')
    if gt_index.shape != (sim.shape[0], ):
        raise ValueError(
            f'gt_index must have one entry per query ({sim.shape[0]}), got '
            f'shape {gt_index.shape}')
    if sim.shape[0] == 0 or sim.shape[1] == 0:
        raise ValueError(f'empty similarity matrix of shape {sim.shape}')
    bad = (gt_index < 0) | (gt_index >= sim.shape[1])
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f'gt_index[{first}] = {gt_index[first]} is not a reference index '
            f'in [0, {sim.shape[1]})')
    if not np.isfinite(sim).all():
        raise ValueError('sim contains NaN or infinite scores')


def gt_ranks(sim: np.ndarray, gt_index: np.ndarray) -> np.ndarray:
    """1-based rank of each query's ground-truth reference.

    Args:
        sim (np.ndarray): Similarities, shape (Q, R); larger is closer.
        gt_index (np.ndarray): Ground-truth reference index per query,
            shape (Q,).

    Returns:
        np.ndarray: Ranks, shape (Q,), int64, values in [1, R].
    """
    sim = np.asarray(sim, dtype=np.float64)
    gt_index = np.asarray(gt_index, dtype=np.int64)
    _check_inputs(sim, gt_index)
    rows = np.arange(sim.shape[0])
    gt_score = sim[rows, gt_index][:, None]
    higher = (sim > gt_score).sum(axis=1)
    ref_ids = np.arange(sim.shape[1])[None, :]
    tied_before = ((sim == gt_score) & (ref_ids < gt_index[:, None])).sum(1)
    return (1 + higher + tied_before).astype(np.int64)


def cmc_curve(sim: np.ndarray, gt_index: np.ndarray) -> np.ndarray:
    """Cumulative match characteristic.

    Args:
        sim (np.ndarray): Similarities, shape (Q, R).
        gt_index (np.ndarray): Ground-truth reference index per query, (Q,).

    Returns:
        np.ndarray: ``cmc[k - 1]`` = share of queries whose ground truth is
        within the top k, shape (R,).
    """
    ranks = gt_ranks(sim, gt_index)
    counts = np.bincount(ranks - 1, minlength=np.asarray(sim).shape[1])
    return np.cumsum(counts) / len(ranks)


def eval_retrieval(
    sim: np.ndarray,
    gt_index: np.ndarray,
    positions: Optional[Tuple[np.ndarray, np.ndarray]] = None,
    topk: Sequence[int] = (1, 5, 10, 20),
    dist_thrs: Sequence[float] = (50, 100, 150)
) -> Dict[str, float]:
    """Recall@K, MRR and metre-level localisation accuracy.

    Args:
        sim (np.ndarray): Query-to-reference similarities, shape (Q, R);
            larger is closer.
        gt_index (np.ndarray): Index of each query's correct reference,
            shape (Q,).
        positions (tuple[np.ndarray, np.ndarray], optional): Query positions
            (Q, 2) and reference positions (R, 2) in metres. When given,
            the localisation accuracy is reported. Defaults to None.
        topk (Sequence[int]): K values of Recall@K. A K larger than R gives
            recall 1. Defaults to (1, 5, 10, 20).
        dist_thrs (Sequence[float]): Distance thresholds in metres; a query
            counts as localised when the top-1 reference lies within the
            threshold (distance <= threshold). Defaults to (50, 100, 150).

    Returns:
        dict[str, float]: ``recall@K`` and ``mrr`` in percent (0-100), and,
        with positions, ``loc_acc@{thr}m`` in percent and ``mean_loc_error``
        and ``median_loc_error`` in metres.
    """
    sim = np.asarray(sim, dtype=np.float64)
    gt_index = np.asarray(gt_index, dtype=np.int64)
    ranks = gt_ranks(sim, gt_index)
    results = {}
    for k in topk:
        if k < 1:
            raise ValueError(f'topk values must be >= 1, got {k}')
        results[f'recall@{k}'] = float((ranks <= k).mean() * 100)
    results['mrr'] = float((1.0 / ranks).mean() * 100)
    if positions is None:
        return results

    query_pos, ref_pos = (np.asarray(p, dtype=np.float64) for p in positions)
    if query_pos.shape != (sim.shape[0], 2):
        raise ValueError(f'query positions must have shape ({sim.shape[0]}, '
                         f'2), got {query_pos.shape}')
    if ref_pos.shape != (sim.shape[1], 2):
        raise ValueError(f'reference positions must have shape '
                         f'({sim.shape[1]}, 2), got {ref_pos.shape}')
    top1 = sim.argmax(axis=1)
    errors = np.linalg.norm(ref_pos[top1] - query_pos, axis=1)
    for thr in dist_thrs:
        results[f'loc_acc@{thr:g}m'] = float((errors <= thr).mean() * 100)
    results['mean_loc_error'] = float(errors.mean())
    results['median_loc_error'] = float(np.median(errors))
    return results
