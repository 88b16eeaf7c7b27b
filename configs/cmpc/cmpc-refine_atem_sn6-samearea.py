# CMPC stage 2 (refinement): the released refinement network (ATEM) trained
# on cached stage-1 embeddings, paper mode: neighbours are the 5 nearest
# candidates (the released exp(-d / 0.0005) ranking underflows to ties; see
# cmpc-refine_atem-released_sn6-samearea.py). Create the caches first:
#   python tools/cmpc/embed_database.py \
#       configs/cmpc/cmpc-embed_r50-wd_sn6-samearea.py STAGE1.pth \
#       --dataloader train --with-queries \
#       --out work_dirs/cmpc/train_embeddings.npz
#   (same with --dataloader test --out work_dirs/cmpc/test_embeddings.npz)
_base_ = ['../_base_/default_runtime.py']

train_cache = 'work_dirs/cmpc/train_embeddings.npz'
test_cache = 'work_dirs/cmpc/test_embeddings.npz'

model = dict(
    type='CMPCGraphRefinement',
    reference_bank=train_cache,
    eval_reference_bank=test_cache,
    node_topk=10,
    temperature=1.0,  # plain CE on the node logits, as released
    rank_margin=0.3,
    refiner=dict(
        type='ATEMRefiner',
        feat_channels=2048,
        net_channels=2048,
        num_layers=4,
        num_edges=5,
        edge_sigma=5e-4,
        released=False))

train_dataloader = dict(
    batch_size=24,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CMPCEmbeddingCacheDataset', cache_file=train_cache))
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CMPCEmbeddingCacheDataset', cache_file=test_cache))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='RetrievalLocalizationMetric',
    topk=(1, 5, 10, 20),
    dist_thrs=(50, 100, 150),
    released_thresholds=True)  # also the released 42.1/94.7/147.4/200 m
test_evaluator = val_evaluator

# Released stage 2 reuses the stage-1 SGD optimizer after its 30 epochs and
# builds a new StepLR on it; StepLR's chainable form starts from the current
# (already decayed) lr, so the refiner effectively trains at 0.0025 x 0.1 =
# 2.5e-4, then 2.5e-5 from epoch 20.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=2.5e-4, momentum=0.9, nesterov=True,
        weight_decay=5e-4))
param_scheduler = [
    dict(type='StepLR', step_size=20, gamma=0.1, by_epoch=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=10))
randomness = dict(seed=1)
