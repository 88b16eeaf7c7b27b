"""CMPC refinement stage and the end-to-end CMPC retriever."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample

from mmosar.datasets.cmpc import load_embedding_cache
from mmosar.registry import MODELS

from .atem import RefinerOutput
from .cmpc_converter import load_cmpc_weights


@MODELS.register_module()
class CMPCGraphRefinement(BaseModel):
    """Graph refinement of CMPC, trained and run on cached embeddings.

    Holds reference banks (retrieval features and positions of all
    references, loaded from embedding caches written by
    ``tools/cmpc/embed_database.py``): the training references, searched
    while training, and the evaluation database, searched by ``predict``.
    For each query feature the ``node_topk`` most similar references (dot
    product of L2-normalised features) become the graph nodes and the
    refiner re-scores them.

    Training builds each graph against the whole reference bank. With
    ``force_gt`` (released behaviour) the ground truth is always a node: if
    it is not among the top K it replaces the K-th candidate (with its true
    coarse similarity, so the refiner cannot read the answer off the input).
    When the coarse Recall@K is low this teaches the refiner that the
    lowest-ranked node is often right, which hurts at test time; with
    ``force_gt=False`` only graphs that naturally contain the ground truth
    are used. ``gt_first=True`` (released mode, with ``force_gt``) builds
    the training graphs as released instead: the ground truth's similarity
    is raised by 1, so it is node 0 and the other nodes are the top K - 1
    of the rest.
    The refiner returns a :class:`RefinerOutput`: node logits and refined
    scores (B, K). Losses (released ``Graph_cls_loss`` +
    ``Graph_sim_mining_loss``): cross-entropy over the K node logits divided
    by ``temperature`` (target: the ground-truth node) and the margin
    ranking loss ``max(0, s_hardest_negative - s_gt + rank_margin)`` on the
    scores.

    Prediction writes ``pred_score`` over all R references: the coarse
    similarities, with the K candidates lifted above every other reference
    in the order of their refined scores.

    Args:
        refiner (dict): ``ATEMRefiner`` or ``AttentionGraphRefiner``
            config.
        reference_bank (str): Embedding cache (``.npz``) with the features
            (and positions) of the training references.
        eval_reference_bank (str, optional): Cache of the database searched
            at validation/test. Defaults to ``reference_bank``.
        node_topk (int): Candidates per query. Defaults to 10.
        force_gt (bool): Force the ground truth into the training graphs.
            Defaults to True.
        gt_first (bool): Released node order for forced graphs (ground
            truth at node 0). Defaults to False.
        temperature (float): Softmax temperature of the CE loss (released:
            1). Defaults to 1.
        rank_margin (float): Margin of the ranking loss. Defaults to 0.3.
        loss_cls_weight (float): Defaults to 1.0.
        loss_rank_weight (float): Defaults to 1.0.
        data_preprocessor (dict, optional): Defaults to a plain
            ``BaseDataPreprocessor`` (features need no normalisation).
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 refiner: dict,
                 reference_bank: str,
                 eval_reference_bank: Optional[str] = None,
                 node_topk: int = 10,
                 force_gt: bool = True,
                 gt_first: bool = False,
                 temperature: float = 1.0,
                 rank_margin: float = 0.3,
                 loss_cls_weight: float = 1.0,
                 loss_rank_weight: float = 1.0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.refiner = MODELS.build(refiner)
        self.node_topk = node_topk
        if gt_first and not force_gt:
            raise ValueError('gt_first needs force_gt=True')
        self.force_gt = force_gt
        self.gt_first = gt_first
        self.temperature = temperature
        self.rank_margin = rank_margin
        self.loss_cls_weight = loss_cls_weight
        self.loss_rank_weight = loss_rank_weight
        self._register_bank('train', reference_bank)
        self._register_bank('eval', eval_reference_bank or reference_bank)

    def _register_bank(self, name: str, path: str) -> None:
        bank = load_embedding_cache(path)
        if self.node_topk > len(bank['ref_feats']):
            raise ValueError(f'node_topk={self.node_topk} exceeds the '
                             f'{len(bank["ref_feats"])} references of {path}')
        if bank['ref_feats'].shape[1] != self.refiner.feat_channels:
            raise ValueError(
                f'{path} holds {bank["ref_feats"].shape[1]}-d features but '
                f'the refiner expects feat_channels='
                f'{self.refiner.feat_channels}')
        ref_pos = bank.get('ref_pos')
        if ref_pos is None and self.refiner.needs_positions:
            raise ValueError(f'{path} has no reference positions but the '
                             'refiner uses positions')
        self.register_buffer(
            f'{name}_ref_feats',
            F.normalize(torch.as_tensor(bank['ref_feats']).float(), dim=1),
            persistent=False)
        self.register_buffer(
            f'{name}_ref_pos',
            None if ref_pos is None else torch.as_tensor(ref_pos).float(),
            persistent=False)

    def _bank(self, train: bool) -> Tuple[torch.Tensor,
                                          Optional[torch.Tensor]]:
        name = 'train' if train else 'eval'
        return getattr(self, f'{name}_ref_feats'), getattr(
            self, f'{name}_ref_pos')

    def query_features(self, inputs: Union[torch.Tensor, List[torch.Tensor]]
                       ) -> torch.Tensor:
        """L2-normalised query features (B, C) from the batch inputs."""
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        return F.normalize(inputs.float(), dim=1)

    def select_candidates(
        self,
        query_feats: torch.Tensor,
        ref_feats: torch.Tensor,
        gt_index: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Coarse top-K references of each query.

        Args:
            query_feats (Tensor): Shape (B, C), L2-normalised.
            ref_feats (Tensor): Reference bank, shape (R, C), L2-normalised.
            gt_index (Tensor, optional): Ground-truth reference per query,
                (B,); when given it is forced into the candidates.

        Returns:
            tuple[Tensor, Tensor]: Coarse similarities to all references
            (B, R) and candidate indices (B, K), sorted by similarity
            (with ``gt_first`` and ``gt_index``: the ground truth, then the
            top K - 1 of the others).
        """
        sim = query_feats @ ref_feats.t()
        if gt_index is not None and self.gt_first:
            rows = torch.arange(len(sim), device=sim.device)
            boosted = sim.index_put((rows, gt_index),
                                    sim[rows, gt_index] + 1)
            return sim, boosted.topk(self.node_topk, dim=1).indices
        cand = sim.topk(self.node_topk, dim=1).indices
        if gt_index is not None:
            missing = ~(cand == gt_index[:, None]).any(1)
            cand[missing, -1] = gt_index[missing]
            order = sim.gather(1, cand).argsort(1, descending=True)
            cand = cand.gather(1, order)
        return sim, cand

    def refine(self, query_feats: torch.Tensor, sim: torch.Tensor,
               cand: torch.Tensor, train: bool) -> RefinerOutput:
        """Node logits and refined scores (B, K) of the candidates ``cand``
        (B, K) taken from the training (``train``) or the evaluation
        bank."""
        ref_feats, ref_pos = self._bank(train)
        cand_pos = None if ref_pos is None else ref_pos[cand]
        return self.refiner(query_feats, ref_feats[cand],
                            sim.gather(1, cand), cand_pos)

    @staticmethod
    def _gt_index(data_samples: List[DataSample],
                  device: torch.device) -> torch.Tensor:
        return torch.as_tensor([int(s.gt_ref_index) for s in data_samples],
                               device=device)

    def forward(self,
                inputs: Union[torch.Tensor, List[torch.Tensor]],
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """``tensor``: re-ranked scores (B, R); ``loss``; ``predict``."""
        query_feats = self.query_features(inputs)
        if mode == 'tensor':
            return self.rerank(query_feats)
        if mode == 'loss':
            return self.loss(query_feats, data_samples)
        if mode == 'predict':
            return self.predict(query_feats, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}".')

    def loss(self, query_feats: torch.Tensor,
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """Node classification and margin ranking losses.

        Args:
            query_feats (Tensor): Shape (B, C).
            data_samples (list[DataSample]): With ``gt_ref_index``.

        Returns:
            dict[str, Tensor]: ``loss_node_cls`` and ``loss_rank``.
        """
        gt_index = self._gt_index(data_samples, query_feats.device)
        sim, cand = self.select_candidates(
            query_feats, self._bank(True)[0],
            gt_index if self.force_gt else None)
        has_gt = (cand == gt_index[:, None]).any(1)
        if not has_gt.any():  # no usable graph in this batch
            zero = sum(p.sum() for p in self.refiner.parameters()) * 0
            return dict(loss_node_cls=zero, loss_rank=zero)
        query_feats, sim, cand, gt_index = (query_feats[has_gt], sim[has_gt],
                                            cand[has_gt], gt_index[has_gt])
        out = self.refine(query_feats, sim, cand, train=True)
        is_gt = cand == gt_index[:, None]
        target = is_gt.float().argmax(1)
        loss_cls = F.cross_entropy(out.node_logits / self.temperature,
                                   target)
        pos = out.scores[is_gt]
        hardest_neg = out.scores.masked_fill(is_gt, float('-inf')).amax(1)
        loss_rank = F.relu(hardest_neg - pos + self.rank_margin).mean()
        return dict(
            loss_node_cls=self.loss_cls_weight * loss_cls,
            loss_rank=self.loss_rank_weight * loss_rank)

    @torch.no_grad()
    def rerank(self, query_feats: torch.Tensor) -> torch.Tensor:
        """Scores (B, R) over the evaluation bank: the coarse ones, with the
        refined top-K lifted above all others."""
        sim, cand = self.select_candidates(query_feats,
                                           self._bank(False)[0])
        refined = self.refine(query_feats, sim, cand, train=False).scores
        lifted = refined - refined.amin(1, keepdim=True) + sim.amax(
            1, keepdim=True) + 1
        return sim.scatter(1, cand, lifted)

    def predict(self, query_feats: torch.Tensor,
                data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        """Data samples with ``pred_score`` (R,) over all references."""
        scores = self.rerank(query_feats)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(len(scores))]
        for sample, score in zip(data_samples, scores):
            sample.set_field(score, 'pred_score')
        return data_samples


@MODELS.register_module()
class CMPCRetriever(CMPCGraphRefinement):
    """End-to-end CMPC: embed SAR query images, coarse search, refinement.

    Inference only (CMPC trains its two stages separately). The reference
    bank is the database embedded once by ``tools/cmpc/embed_database.py``
    with the same embedder.

    Weights are loaded strictly (:func:`load_cmpc_weights`): a missing or
    unexpected key is an error listing them unless the load names it in
    ``allowed_missing`` / ``allowed_unexpected`` (glob patterns). Each of
    ``embedder_checkpoint``, ``refiner_checkpoint`` and
    ``released_checkpoint`` is a path or a dict ``(checkpoint=...,
    allowed_missing=(), allowed_unexpected=())``.

    Args:
        embedder (dict): ``CMPCEmbedder`` config.
        refiner (dict): ``ATEMRefiner`` (or ``AttentionGraphRefiner``)
            config.
        reference_bank (str): Embedded database (``.npz``).
        embedder_checkpoint (str | dict, optional): Stage-1 checkpoint
            (``CMPCEmbedder`` keys, or a released file).
        refiner_checkpoint (str | dict, optional): Stage-2 checkpoint (a
            ``CMPCGraphRefinement`` checkpoint; its ``refiner.*`` keys, or a
            released file).
        released_checkpoint (str | dict, optional): A released CMPC
            checkpoint (``{'model': ...}``), converted: embedding and
            refinement weights from one file. The embedder's critic is not
            in it (allow ``critic.*`` missing, or build the embedder with
            ``critic=None``).
        **kwargs: Other ``CMPCGraphRefinement`` arguments.
    """

    def __init__(self,
                 embedder: dict,
                 refiner: dict,
                 reference_bank: str,
                 embedder_checkpoint: Optional[Union[str, dict]] = None,
                 refiner_checkpoint: Optional[Union[str, dict]] = None,
                 released_checkpoint: Optional[Union[str, dict]] = None,
                 **kwargs) -> None:
        embedder = dict(embedder)
        data_preprocessor = embedder.pop('data_preprocessor', None)
        super().__init__(
            refiner=refiner,
            reference_bank=reference_bank,
            data_preprocessor=data_preprocessor or dict(
                type='RetrievalDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                bgr_to_rgb=True),
            **kwargs)
        self.embedder = MODELS.build(embedder)
        loads = [(self.embedder, embedder_checkpoint, ''),
                 (self.refiner, refiner_checkpoint, 'refiner.'),
                 (self.embedder, released_checkpoint, 'embedder.'),
                 (self.refiner, released_checkpoint, 'refiner.')]
        for module, load, prefix in loads:
            if load is None:
                continue
            load = dict(checkpoint=load) if isinstance(load, str) else dict(
                load)
            released_prefix = 'embedder.' if module is self.embedder else (
                'refiner.')
            load_cmpc_weights(
                module, prefix=prefix, released_prefix=released_prefix,
                **load)

    def query_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """Embed query images (B, 3, H, W) into features (B, C)."""
        with torch.no_grad():
            return F.normalize(self.embedder.extract_feat(inputs)[0], dim=1)

    def loss(self, query_feats, data_samples):
        """Not supported: train the two CMPC stages separately."""
        raise NotImplementedError(
            'CMPCRetriever is for inference; train CMPCEmbedder, cache the '
            'embeddings, then train CMPCGraphRefinement')
