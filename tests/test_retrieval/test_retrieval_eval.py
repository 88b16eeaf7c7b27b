"""eval_retrieval and RetrievalLocalizationMetric against hand-worked and
direct numpy references."""
import math

import numpy as np
import pytest

from mmosar.evaluation.functional import (
    cmc_curve,
    eval_retrieval,
    released_cmc_map,
    released_loc_thresholds,
    released_localization,
)
from mmosar.evaluation.metrics import RetrievalLocalizationMetric


def test_hand_worked_example():
    # query 0: gt 0 scores highest -> rank 1
    # query 1: gt 0 (0.2) is below 0.3 and 0.8 -> rank 3
    # query 2: gt 1 ties with reference 0 (0.5); the lower index wins -> 2
    sim = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8], [0.5, 0.5, 0.1]])
    gt = np.array([0, 0, 1])
    ref_pos = np.array([[0., 0.], [100., 0.], [0., 200.]])
    query_pos = np.array([[10., 0.], [0., 120.], [0., -130.]])
    # top-1: q0 -> ref 0 (error 10 m), q1 -> ref 2 (80 m), q2 -> ref 0
    # (130 m)
    out = eval_retrieval(
        sim, gt, (query_pos, ref_pos), topk=(1, 2, 3),
        dist_thrs=(50, 100, 150))
    assert out['recall@1'] == pytest.approx(100 / 3)
    assert out['recall@2'] == pytest.approx(200 / 3)
    assert out['recall@3'] == pytest.approx(100)
    assert out['mrr'] == pytest.approx((1 + 1 / 3 + 1 / 2) / 3 * 100)
    assert out['loc_acc@50m'] == pytest.approx(100 / 3)
    assert out['loc_acc@100m'] == pytest.approx(200 / 3)
    assert out['loc_acc@150m'] == pytest.approx(100)
    assert out['mean_loc_error'] == pytest.approx((10 + 80 + 130) / 3)
    np.testing.assert_allclose(cmc_curve(sim, gt), [1 / 3, 2 / 3, 1])


def _numpy_reference(sim, gt, query_pos, ref_pos, topk, thrs):
    ranks = []
    errors = []
    for q in range(sim.shape[0]):
        order = list(np.argsort(-sim[q]))
        ranks.append(order.index(gt[q]) + 1)
        best = order[0]
        errors.append(
            math.hypot(*(ref_pos[best] - query_pos[q])))
    ranks = np.array(ranks)
    errors = np.array(errors)
    ref = {f'recall@{k}': 100 * np.mean(ranks <= k) for k in topk}
    ref['mrr'] = 100 * np.mean(1 / ranks)
    for t in thrs:
        ref[f'loc_acc@{t}m'] = 100 * np.mean(errors <= t)
    ref['mean_loc_error'] = errors.mean()
    return ref


def test_random_against_numpy_reference():
    rng = np.random.default_rng(0)
    sim = rng.normal(size=(57, 40))
    gt = rng.integers(0, 40, size=57)
    query_pos = rng.uniform(0, 500, size=(57, 2))
    ref_pos = rng.uniform(0, 500, size=(40, 2))
    topk, thrs = (1, 5, 10, 20), (50, 100, 150)
    out = eval_retrieval(sim, gt, (query_pos, ref_pos), topk, thrs)
    ref = _numpy_reference(sim, gt, query_pos, ref_pos, topk, thrs)
    for key, value in ref.items():
        assert out[key] == pytest.approx(value), key


def test_bad_inputs_raise():
    sim = np.zeros((2, 3))
    with pytest.raises(ValueError, match='gt_index'):
        eval_retrieval(sim, np.array([0, 3]))
    with pytest.raises(ValueError, match='one entry per query'):
        eval_retrieval(sim, np.array([0]))
    with pytest.raises(ValueError, match='reference positions'):
        eval_retrieval(sim, np.array([0, 1]),
                       (np.zeros((2, 2)), np.zeros((2, 2))))


def _feature_samples(rng, num_refs=12, num_queries=9, dim=6):
    ref_feats = rng.normal(size=(num_refs, dim))
    query_feats = rng.normal(size=(num_queries, dim))
    gt = rng.integers(0, num_refs, size=num_queries)
    ref_pos = rng.uniform(0, 300, size=(num_refs, 2))
    query_pos = rng.uniform(0, 300, size=(num_queries, 2))
    samples = [
        dict(pred_feature=f, role='reference', ref_index=i, pos=p)
        for i, (f, p) in enumerate(zip(ref_feats, ref_pos))
    ]
    samples += [
        dict(pred_feature=f, role='query', gt_ref_index=int(g), pos=p)
        for f, g, p in zip(query_feats, gt, query_pos)
    ]
    return samples, ref_feats, query_feats, gt, ref_pos, query_pos


def test_metric_feature_mode_matches_cosine_reference(tmp_path):
    rng = np.random.default_rng(1)
    samples, refs, queries, gt, ref_pos, query_pos = _feature_samples(rng)
    order = rng.permutation(len(samples))  # arrival order must not matter
    metric = RetrievalLocalizationMetric(
        topk=(1, 5), dist_thrs=(100, ), out_dir=str(tmp_path))
    metric.process({}, [samples[i] for i in order])
    out = metric.compute_metrics(metric.results)
    cosine = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ (
        refs / np.linalg.norm(refs, axis=1, keepdims=True)).T
    ref = _numpy_reference(cosine, gt, query_pos, ref_pos, (1, 5), (100, ))
    for key, value in ref.items():
        assert out[key] == pytest.approx(value), key
    assert (tmp_path / 'cmc_curve.png').stat().st_size > 0


def test_metric_score_mode_uses_dataset_reference_positions():
    rng = np.random.default_rng(2)
    scores = rng.normal(size=(5, 7))
    gt = rng.integers(0, 7, size=5)
    ref_pos = rng.uniform(0, 300, size=(7, 2))
    query_pos = rng.uniform(0, 300, size=(5, 2))
    metric = RetrievalLocalizationMetric(topk=(1, 3), plot_cmc=False)
    metric.dataset_meta = dict(reference_positions=ref_pos)
    metric.process({}, [
        dict(pred_score=s, gt_ref_index=int(g), pos=p)
        for s, g, p in zip(scores, gt, query_pos)
    ])
    out = metric.compute_metrics(metric.results)
    ref = _numpy_reference(scores, gt, query_pos, ref_pos, (1, 3), (50, ))
    for key in ('recall@1', 'recall@3', 'mrr', 'mean_loc_error'):
        assert out[key] == pytest.approx(ref[key]), key


def test_metric_rejects_sample_without_role():
    metric = RetrievalLocalizationMetric()
    with pytest.raises(ValueError, match='role'):
        metric.process({}, [dict(pred_feature=np.ones(3), img_path='a.png')])


def test_released_thresholds_are_not_the_printed_ones():
    # the released log labels linspace(0, 200, 20)[4, 9, 14, 19] as
    # 50/100/150/200 m; they are 800/19, 1800/19, 2800/19 and 200 m
    thresholds = released_loc_thresholds()
    np.testing.assert_allclose(thresholds[[4, 9, 14, 19]],
                               [800 / 19, 1800 / 19, 2800 / 19, 200],
                               rtol=1e-6)
    # one query per reference, the top-1 reference is the query's own, so
    # the error is the query's offset from its reference: 40, 45, 90, 100,
    # 140, 150, 199 and 250 m
    offsets = np.array([40, 45, 90, 100, 140, 150, 199, 250], float)
    ref_pos = np.stack([np.arange(8) * 1000.0, np.zeros(8)], 1)
    query_pos = ref_pos + np.stack([offsets, np.zeros(8)], 1)
    _, loc_cmc, mean_err = released_localization(ref_pos, query_pos)
    assert mean_err == pytest.approx(offsets.mean())
    # <= 42.1: 40 | <= 94.7: 40 45 90 | <= 147.4: + 100 140 | <= 200: + 150 199
    assert loc_cmc[[4, 9, 14, 19]].tolist() == [1 / 8, 3 / 8, 5 / 8, 7 / 8]
    metric = RetrievalLocalizationMetric(
        topk=(1, ), dist_thrs=(50, 100, 150, 200), released_thresholds=True,
        plot_cmc=False)
    metric.dataset_meta = dict(reference_positions=ref_pos)
    metric.process({}, [
        dict(pred_score=np.eye(8)[i], gt_ref_index=i, pos=query_pos[i])
        for i in range(8)
    ])
    out = metric.compute_metrics(metric.results)
    assert out['loc_acc@50m'] == pytest.approx(100 * 2 / 8)
    assert out['loc_acc_released@50m'] == pytest.approx(100 * 1 / 8)
    assert out['loc_acc@100m'] == pytest.approx(100 * 4 / 8)
    assert out['loc_acc_released@100m'] == pytest.approx(100 * 3 / 8)
    assert out['loc_acc@150m'] == pytest.approx(100 * 6 / 8)
    assert out['loc_acc_released@150m'] == pytest.approx(100 * 5 / 8)
    assert out['loc_acc_released@200m'] == pytest.approx(100 * 7 / 8)


def test_released_cmc_map_counts_every_hit():
    # 2 queries, 4 references with location ids; query 1's id appears twice
    sim = np.array([[0.9, 0.1, 0.5, 0.3], [0.2, 0.8, 0.7, 0.1]])
    ref_ids = np.array([10, 11, 12, 12])
    cmc, mean_rr = released_cmc_map(sim, ref_ids, np.array([12, 12]))
    # query 0 ranks: 10, 12, 12(0.3), 11 -> hits at ranks 1, 2 (0-based)
    # query 1 ranks: 11, 12, 10, 12 -> hits at ranks 1, 3
    assert cmc.dtype == np.float32
    assert cmc.tolist() == [0.0, 1.0, 1.5, 2.0]
    assert mean_rr == pytest.approx((1 / 2 + 1 / 3 + 1 / 2 + 1 / 4) / 4)
