"""eval_reid against a hand-worked example and a plain numpy reference."""
import numpy as np
import pytest

from mmosar.evaluation.functional import eval_reid


def test_hand_worked_example():
    # Gallery ids / modalities; three queries, the last one has no match.
    g_pids = np.array([2, 1, 3, 1])
    g_mods = np.array([0, 0, 1, 1])
    q_pids = np.array([1, 3, 7])
    q_mods = np.array([0, 1, 0])
    distmat = np.array([
        [0.1, 0.2, 0.3, 0.4],  # ranking 2,1,3,1: hits at ranks 2 and 4
        [0.5, 0.9, 0.1, 0.7],  # ranking 3,2,1,1: hit at rank 1
        [0.1, 0.2, 0.3, 0.4],
    ])
    out = eval_reid(distmat, q_pids, g_pids, max_rank=50)
    # AP(q0) = (1/2 + 2/4) / 2 = 0.5, AP(q1) = 1.
    assert out['mAP'] == pytest.approx(0.75)
    # Gallery of 4: CMC clipped to 4 ranks; q0 first hit at 2, q1 at 1.
    np.testing.assert_allclose(out['cmc'], [0.5, 1.0, 1.0, 1.0])
    assert out['num_valid_queries'] == 2
    assert out['num_skipped_queries'] == 1

    # Market-1501 junk rule with modality as camera: q0 loses gallery 1
    # (id 1, optical) -> ranking 2,3,1: hit at rank 3, AP 1/3; q1 loses its
    # only match (id 3, SAR) and is skipped, as q2.
    out = eval_reid(distmat, q_pids, g_pids, q_mods, g_mods,
                    filter_same_modality=True)
    assert out['mAP'] == pytest.approx(1 / 3)
    np.testing.assert_allclose(out['cmc'], [0.0, 0.0, 1.0, 1.0])
    assert out['num_skipped_queries'] == 2


def _reference(distmat, q_pids, g_pids, max_rank):
    """Market-1501 protocol written out rank by rank."""
    aps, cmcs = [], []
    for q in range(len(q_pids)):
        order = np.argsort(distmat[q], kind='stable')
        relevant = [g_pids[j] == q_pids[q] for j in order]
        if not any(relevant):
            continue
        precisions = []
        found = 0
        for rank, rel in enumerate(relevant, start=1):
            if rel:
                found += 1
                precisions.append(found / rank)
        aps.append(sum(precisions) / len(precisions))
        cmcs.append([float(any(relevant[:k])) for k in range(1, max_rank + 1)])
    return np.mean(aps), np.mean(cmcs, axis=0), len(aps)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_against_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    q_pids = rng.integers(0, 12, size=30)
    g_pids = rng.integers(0, 10, size=60)  # ids 10, 11 never in the gallery
    distmat = rng.random((30, 60))
    out = eval_reid(distmat, q_pids, g_pids, max_rank=20)
    ref_map, ref_cmc, n_valid = _reference(distmat, q_pids, g_pids, 20)
    assert out['mAP'] == pytest.approx(ref_map)
    np.testing.assert_allclose(out['cmc'], ref_cmc)
    assert out['num_valid_queries'] == n_valid
    assert out['num_skipped_queries'] == 30 - n_valid


def test_errors():
    with pytest.raises(ValueError, match='none of the 1 queries'):
        eval_reid(np.zeros((1, 2)), np.array([5]), np.array([1, 2]))
    with pytest.raises(ValueError, match='shape'):
        eval_reid(np.zeros((2, 2)), np.array([5]), np.array([1, 2]))
    with pytest.raises(ValueError, match='needs q_modalities'):
        eval_reid(np.zeros((1, 2)), np.array([1]), np.array([1, 2]),
                  filter_same_modality=True)


def test_metric_scores_each_protocol_separately():
    import torch

    from mmosar.evaluation.metrics import CrossModalReIDMetric

    def sample(feat, pid, modality, role, protocol):
        return dict(pred_feature=torch.tensor(feat), gt_label=torch.tensor(
            [pid]), modality=modality, role=role, protocol=protocol)

    samples = [
        # X: the true match is ranked second -> AP 1/2, R1 0, R5 100.
        sample([1.0, 0.0], 1, 0, 'query', 'X'),
        sample([0.0, 1.0], 1, 1, 'gallery', 'X'),
        sample([1.0, 0.1], 2, 1, 'gallery', 'X'),
        # Y: one query matched at rank 1, one query (id 9) has no match.
        sample([1.0, 0.0], 2, 1, 'query', 'Y'),
        sample([0.0, 3.0], 9, 1, 'query', 'Y'),
        sample([2.0, 0.1], 2, 0, 'gallery', 'Y'),
        sample([0.1, 1.0], 3, 0, 'gallery', 'Y'),
    ]
    metric = CrossModalReIDMetric(rank_list=(1, 5))
    metric.process({}, samples)
    out = metric.compute_metrics(metric.results)
    assert out['X_mAP'] == pytest.approx(50.0)
    assert out['X_R1'] == pytest.approx(0.0)
    assert out['X_R5'] == pytest.approx(100.0)
    assert out['Y_mAP'] == pytest.approx(100.0)
    assert out['Y_R1'] == pytest.approx(100.0)


def test_against_mmpretrain_retrieval_metrics():
    """mmpretrain's retrieval metrics as a second reference: IR-mode AP over
    the whole gallery is Market-1501's AP, recall@k is CMC@k (every query
    has a gallery match here, so none is skipped)."""
    from mmpretrain.evaluation import (
        RetrievalAveragePrecision,
        RetrievalRecall,
    )
    rng = np.random.default_rng(3)
    g_pids = np.concatenate([np.arange(8), rng.integers(0, 8, size=32)])
    q_pids = rng.integers(0, 8, size=25)
    distmat = rng.random((25, 40))
    out = eval_reid(distmat, q_pids, g_pids, max_rank=10)
    target = q_pids[:, None] == g_pids[None, :]
    score = -distmat  # mmpretrain ranks by descending score
    ap = RetrievalAveragePrecision.calculate(score, target, topk=40)
    recalls = RetrievalRecall.calculate(score, target, topk=(1, 5, 10))
    assert 100 * out['mAP'] == pytest.approx(float(ap), rel=1e-9)
    for k, recall in zip((1, 5, 10), recalls):
        assert 100 * out['cmc'][k - 1] == pytest.approx(float(recall),
                                                       rel=1e-6)
