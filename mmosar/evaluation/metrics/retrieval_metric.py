"""Recall@K / MRR / metre-level localisation metric for patch retrieval."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmengine.utils import mkdir_or_exist
from mmengine.visualization import Visualizer

from mmosar.registry import METRICS

from ..functional.retrieval import (
    RELEASED_LOC_LABELS,
    cmc_curve,
    eval_retrieval,
    released_localization,
)


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


@METRICS.register_module()
class RetrievalLocalizationMetric(BaseMetric):
    """Evaluate cross-modal patch retrieval and the resulting localisation.

    Two kinds of predictions are accepted (one kind per evaluation run):

    - Embeddings: every data sample carries ``pred_feature`` and a ``role``
      (``'query'`` or ``'reference'``). References carry ``ref_index``,
      queries ``gt_ref_index``; both may carry ``pos`` (x, y in metres).
      Similarity is the cosine of the features.
    - Scores: every data sample is a query carrying ``pred_score`` over all
      references of the dataset (e.g. the output of the graph refinement),
      ``gt_ref_index`` and optionally ``pos``. Reference positions come from
      ``dataset_meta['reference_positions']``.

    Args:
        topk (Sequence[int]): K of Recall@K. Defaults to (1, 5, 10, 20).
        dist_thrs (Sequence[float]): Localisation thresholds in metres.
            Defaults to (50, 100, 150).
        released_thresholds (bool): Also report the localisation accuracy
            the released code prints as "50/100/150/200 m", which it
            computes at ``linspace(0, 200, 20)[4, 9, 14, 19]`` = 42.1 /
            94.7 / 147.4 / 200 m, as ``loc_acc_released@{50,100,150,200}m``
            (the paper's tables use these). The exact ``loc_acc@{thr}m``
            keys are reported as well. Defaults to False.
        plot_cmc (bool): Render the CMC curve (matplotlib, Agg) and save it.
            Defaults to True.
        out_dir (str, optional): Folder for ``cmc_curve.png``. When None the
            image goes to the current visualizer's backends (the run's
            ``vis_data`` folder inside the work dir). Defaults to None.
        collect_device (str): Defaults to 'cpu'.
        prefix (str): Defaults to 'retrieval'.
    """
    default_prefix = 'retrieval'

    def __init__(self,
                 topk: Sequence[int] = (1, 5, 10, 20),
                 dist_thrs: Sequence[float] = (50, 100, 150),
                 released_thresholds: bool = False,
                 plot_cmc: bool = True,
                 out_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(topk)
        self.dist_thrs = tuple(dist_thrs)
        self.released_thresholds = released_thresholds
        self.plot_cmc = plot_cmc
        self.out_dir = out_dir

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep the prediction and ground truth of each sample."""
        for sample in data_samples:
            pos = sample.get('pos')
            record = dict(pos=None if pos is None else _to_numpy(pos))
            if 'pred_score' in sample:
                record.update(
                    kind='score',
                    score=_to_numpy(sample['pred_score']).astype(np.float32),
                    gt_ref_index=int(sample['gt_ref_index']))
            elif 'pred_feature' in sample:
                role = sample.get('role')
                if role not in ('query', 'reference'):
                    raise ValueError(
                        "a sample with 'pred_feature' needs role 'query' or "
                        f"'reference', got {role!r} "
                        f"({sample.get('img_path')})")
                index_key = 'gt_ref_index' if role == 'query' else 'ref_index'
                record.update(
                    kind=role,
                    feature=_to_numpy(sample['pred_feature']).astype(
                        np.float32),
                    index=int(sample[index_key]))
            else:
                raise ValueError("data sample has neither 'pred_score' nor "
                                 f"'pred_feature' ({sample.get('img_path')})")
            self.results.append(record)

    @staticmethod
    def _stack_positions(records: List[dict]) -> Optional[np.ndarray]:
        if any(r['pos'] is None for r in records):
            return None
        return np.stack([r['pos'] for r in records]).astype(np.float64)

    def _from_features(self, results: List[dict]):
        queries = [r for r in results if r['kind'] == 'query']
        refs = sorted((r for r in results if r['kind'] == 'reference'),
                      key=lambda r: r['index'])
        if not queries or not refs:
            raise ValueError(
                f'feature evaluation needs queries and references, got '
                f'{len(queries)} queries and {len(refs)} references; use a '
                "dataset with mode='all'")
        ref_indices = [r['index'] for r in refs]
        if ref_indices != list(range(len(refs))):
            raise ValueError('reference indices must be 0..R-1 exactly once')
        q = np.stack([r['feature'] for r in queries])
        g = np.stack([r['feature'] for r in refs])
        q = q / np.linalg.norm(q, axis=1, keepdims=True).clip(min=1e-12)
        g = g / np.linalg.norm(g, axis=1, keepdims=True).clip(min=1e-12)
        gt = np.array([r['index'] for r in queries])
        query_pos = self._stack_positions(queries)
        ref_pos = self._stack_positions(refs)
        positions = None if query_pos is None or ref_pos is None else (
            query_pos, ref_pos)
        return q @ g.T, gt, positions

    def _from_scores(self, results: List[dict]):
        sim = np.stack([r['score'] for r in results])
        gt = np.array([r['gt_ref_index'] for r in results])
        query_pos = self._stack_positions(results)
        ref_pos = (self.dataset_meta or {}).get('reference_positions')
        positions = None
        if query_pos is not None and ref_pos is not None:
            positions = (query_pos, np.asarray(ref_pos, dtype=np.float64))
        return sim, gt, positions

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Compute Recall@K, MRR and localisation accuracy."""
        kinds = {r['kind'] for r in results}
        if kinds == {'score'}:
            sim, gt, positions = self._from_scores(results)
        elif 'score' in kinds:
            raise ValueError('cannot mix score and feature predictions')
        else:
            sim, gt, positions = self._from_features(results)
        metrics = eval_retrieval(
            sim, gt, positions, topk=self.topk, dist_thrs=self.dist_thrs)
        if self.released_thresholds and positions is not None:
            metrics.update(self._released_loc_accuracy(sim, positions))
        if self.plot_cmc:
            self._save_cmc_plot(cmc_curve(sim, gt))
        return metrics

    @staticmethod
    def _released_loc_accuracy(sim: np.ndarray,
                               positions) -> Dict[str, float]:
        query_pos, ref_pos = positions
        thresholds, loc_cmc, _ = released_localization(
            ref_pos[sim.argmax(axis=1)], query_pos)
        MMLogger.get_current_instance().info(
            'released localisation thresholds: ' + ', '.join(
                f'"{label} m" = {thresholds[idx]:.1f} m'
                for label, idx in RELEASED_LOC_LABELS.items()))
        return {
            f'loc_acc_released@{label}m': float(loc_cmc[idx] * 100)
            for label, idx in RELEASED_LOC_LABELS.items()
        }

    def _save_cmc_plot(self, cmc: np.ndarray) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        max_rank = min(len(cmc), max(max(self.topk), 50))
        fig = Figure(figsize=(5, 4), dpi=100)
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ranks = np.arange(1, max_rank + 1)
        ax.plot(ranks, cmc[:max_rank] * 100, marker='.')
        ax.set_xlabel('rank')
        ax.set_ylabel('matching rate (%)')
        ax.set_ylim(0, 100)
        ax.set_title(f'CMC ({len(cmc)} references)')
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        if self.out_dir is not None:
            mkdir_or_exist(self.out_dir)
            path = osp.join(self.out_dir, 'cmc_curve.png')
            fig.savefig(path)
            MMLogger.get_current_instance().info(f'CMC curve saved to {path}')
        else:
            try:
                visualizer = Visualizer.get_current_instance()
            except RuntimeError:  # no runner / visualizer: nowhere to save
                visualizer = None
            if visualizer is not None:
                canvas.draw()
                image = np.asarray(canvas.buffer_rgba())[..., :3].copy()
                visualizer.add_image('cmc_curve', image)
