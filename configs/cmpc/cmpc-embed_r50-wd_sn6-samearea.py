# CMPC stage 1 (coarse search): shared ResNet-50 embedder trained with the
# cross-modal triplet loss + Wasserstein modality critic on SN6-CMPC
# same-area (released `experiments/same_advwd_gnn_e2e.json`, embedding part).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/datasets/cmpc_sn6_samearea.py',
    '../_base_/models/cmpc_embedder_r50.py',
    '../_base_/schedules/cmpc_sgd_30e.py',
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(
        type='CheckpointHook',
        interval=10,
        save_best='retrieval/recall@1',
        rule='greater'))
randomness = dict(seed=1)
