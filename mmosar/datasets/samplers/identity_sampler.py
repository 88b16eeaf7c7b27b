"""P x K identity sampler for metric learning (ReID, pair pretraining)."""
from collections import defaultdict
from typing import Iterator, List, Optional

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from mmosar.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class IdentitySampler(Sampler):
    """Yield batches of ``num_ids`` identities x ``num_instances`` images.

    Each epoch, every identity's images are shuffled and cut into chunks of
    ``num_instances`` (an identity with fewer images is sampled with
    replacement to one chunk; a trailing partial chunk is dropped). Batches
    take one chunk from each of ``num_ids`` distinct identities chosen at
    random among those with chunks left; identities whose chunks run out
    are re-chunked, so an epoch always has
    ``total_chunks // num_ids`` batches. Set the dataloader's ``batch_size``
    to ``num_ids * num_instances`` (each yielded run of that many indices is
    one batch). With several processes, batches are dealt round-robin to
    the ranks, so each rank gets whole P x K batches. With
    ``shard_across_ranks=False`` every rank instead draws a whole epoch of
    its own (seeded by the rank), i.e. each rank sees every identity once
    per epoch: the released TransOSS pretraining before its December 2025
    fix (a shuffling ``DataLoader`` on every GPU, no distributed sampler).

    Args:
        dataset (BaseDataset): Dataset whose ``get_data_info(i)`` has
            ``label_key``.
        num_ids (int): Identities per batch (P).
        num_instances (int): Images per identity (K).
        seed (int, optional): Random seed, shared by all ranks. Defaults to
            a synchronised random seed.
        label_key (str): Data-info key of the identity. Defaults to
            ``'gt_label'``.
        shard_across_ranks (bool): Split one epoch's batches among the
            ranks (True) or give every rank a full epoch (False).
    """

    def __init__(self,
                 dataset: BaseDataset,
                 num_ids: int,
                 num_instances: int,
                 seed: Optional[int] = None,
                 label_key: str = 'gt_label',
                 shard_across_ranks: bool = True) -> None:
        if num_ids < 1 or num_instances < 1:
            raise ValueError('num_ids and num_instances must be >= 1')
        self.num_ids = num_ids
        self.num_instances = num_instances
        self.rank, self.world_size = get_dist_info()
        self.shard_across_ranks = shard_across_ranks
        # Ranks that share one epoch's batches (1: each rank has its own).
        self.num_shards = self.world_size if shard_across_ranks else 1
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        self.indices_of = defaultdict(list)
        for idx in range(len(dataset)):
            self.indices_of[int(dataset.get_data_info(idx)[label_key])] \
                .append(idx)
        self.ids = sorted(self.indices_of)
        if len(self.ids) < num_ids:
            raise ValueError(f'the dataset has {len(self.ids)} identities, '
                             f'fewer than num_ids={num_ids}')
        total_chunks = sum(
            max(len(v), num_instances) // num_instances
            for v in self.indices_of.values())
        self.batches_per_rank = total_chunks // num_ids // self.num_shards
        if self.batches_per_rank == 0:
            raise ValueError('not enough identities/images for one batch per '
                             'rank')

    def _chunks(self, pid: int, rng: np.random.Generator) -> List[list]:
        """Shuffled chunks of ``num_instances`` images of one identity."""
        idxs = self.indices_of[pid]
        k = self.num_instances
        if len(idxs) < k:
            idxs = rng.choice(idxs, size=k, replace=True)
        else:
            idxs = rng.permutation(idxs)
        return [list(idxs[i:i + k]) for i in range(0, len(idxs) - k + 1, k)]

    def _epoch_batches(self) -> List[list]:
        seed = self.seed + self.epoch
        rng = np.random.default_rng(
            seed if self.shard_across_ranks else [seed, self.rank])
        chunks = {pid: self._chunks(pid, rng) for pid in self.ids}
        batches = []
        num_batches = self.batches_per_rank * self.num_shards
        while len(batches) < num_batches:
            available = [pid for pid in self.ids if chunks[pid]]
            if len(available) < self.num_ids:
                for pid in self.ids:
                    if not chunks[pid]:
                        chunks[pid] = self._chunks(pid, rng)
                available = self.ids
            chosen = rng.choice(available, size=self.num_ids, replace=False)
            batches.append(
                [int(i) for pid in chosen for i in chunks[pid].pop(0)])
        return batches

    def __iter__(self) -> Iterator[int]:
        shard = self.rank if self.shard_across_ranks else 0
        for batch in self._epoch_batches()[shard::self.num_shards]:
            yield from batch

    def __len__(self) -> int:
        return self.batches_per_rank * self.num_ids * self.num_instances

    def set_epoch(self, epoch: int) -> None:
        """Change the shuffling of the next epoch."""
        self.epoch = epoch
