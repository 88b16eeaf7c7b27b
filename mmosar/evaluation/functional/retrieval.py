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


# --- The released CMPC evaluation (``test.sn6loc_test``), for comparison.

#: Indices of the released thresholds that its log labels 50/100/150/200 m.
RELEASED_LOC_LABELS = {50: 4, 100: 9, 150: 14, 200: 19}


def released_sq_l2_similarity(query: np.ndarray,
                              refs: np.ndarray) -> np.ndarray:
    """The released coarse similarity, ``-max(0, |q|^2 + |r|^2 - 2 q.r)``.

    Args:
        query (np.ndarray): Query features (Q, C).
        refs (np.ndarray): Reference features (R, C).

    Returns:
        np.ndarray: Similarities (Q, R), float64.
    """
    query = np.asarray(query, dtype=np.float64)
    refs = np.asarray(refs, dtype=np.float64)
    sq = ((query**2).sum(1)[:, None] + (refs**2).sum(1)[None] -
          2 * query @ refs.T)
    return -np.maximum(sq, 0)


def released_cmc_map(sim: np.ndarray, ref_ids: np.ndarray,
                     query_ids: np.ndarray) -> Tuple[np.ndarray, np.float32]:
    """CMC and "mAP" of the released ``eval_retrieval``.

    ``cmc[k]`` is the number of hits within the top k + 1 divided by the
    number of queries; "mAP" is the mean of ``1 / (rank + 1)`` over every
    hit (the MRR when each query has one matching reference). Both are
    float32, as released.

    Args:
        sim (np.ndarray): Similarities (Q, R).
        ref_ids (np.ndarray): Location id of each reference (R,).
        query_ids (np.ndarray): Location id of each query (Q,).

    Returns:
        tuple[np.ndarray, np.float32]: ``cmc`` (R,) and ``mAP``.
    """
    order = np.argsort(-np.asarray(sim), axis=1, kind='stable')
    matches = np.asarray(ref_ids)[order] == np.asarray(query_ids)[:, None]
    cmc = matches.sum(0).cumsum().astype(np.float32) / np.float32(len(sim))
    hit_rank = np.nonzero(matches)[1].astype(np.float32)
    return cmc, np.float32(np.mean(1 / (hit_rank + 1), dtype=np.float32))


def released_loc_thresholds(max_meter: float = 200.,
                            num: int = 20) -> np.ndarray:
    """The released thresholds, ``torch.linspace(0, max_meter, num)``
    (float32): 0, 10.53, ..., 200 m for the defaults."""
    import torch
    return torch.linspace(0, max_meter, num).numpy()


def released_localization(pred_pos: np.ndarray,
                          gt_pos: np.ndarray,
                          max_meter: float = 200.,
                          num: int = 20
                          ) -> Tuple[np.ndarray, np.ndarray, float]:
    """Localisation accuracy of the released ``eval_localizarion``.

    ``loc_cmc[t]`` is the share of queries whose error (Euclidean distance
    between the predicted and true positions) is <= ``thresholds[t]``. The
    release prints ``loc_cmc[4, 9, 14, 19]`` as 50/100/150/200 m; with the
    defaults those thresholds are 42.1/94.7/147.4/200 m
    (:data:`RELEASED_LOC_LABELS`).

    Args:
        pred_pos (np.ndarray): Predicted positions (Q, 2) in metres.
        gt_pos (np.ndarray): True positions (Q, 2) in metres.
        max_meter (float): Largest threshold. Defaults to 200.
        num (int): Number of thresholds. Defaults to 20.

    Returns:
        tuple: ``thresholds`` (num,) float32, ``loc_cmc`` (num,) float64,
        mean error in metres.
    """
    errors = np.linalg.norm(
        np.asarray(pred_pos, np.float64) - np.asarray(gt_pos, np.float64),
        axis=1)
    thresholds = released_loc_thresholds(max_meter, num)
    loc_cmc = (errors[None] <= thresholds.astype(np.float64)[:, None]).mean(1)
    return thresholds, loc_cmc, float(errors.mean())


def released_refined_similarity(sim: np.ndarray, topk_index: np.ndarray,
                                order: np.ndarray) -> np.ndarray:
    """The released re-ranked similarity matrix (``sn6loc_test.refine``).

    The coarse top-K entries of each row are overwritten with K, K-1, ...,
    1 in the refined order.

    Args:
        sim (np.ndarray): Coarse similarities (Q, R).
        topk_index (np.ndarray): Coarse top-K reference indices (Q, K).
        order (np.ndarray): Refined order, positions into ``topk_index``
            (Q, K), best first.

    Returns:
        np.ndarray: Re-ranked similarities (Q, R).
    """
    refined = np.array(sim, dtype=np.float64, copy=True)
    rows = np.arange(len(refined))[:, None]
    num_cands = topk_index.shape[1]
    refined[rows, np.take_along_axis(topk_index, order, 1)] = np.arange(
        num_cands, 0, -1)[None]
    return refined
