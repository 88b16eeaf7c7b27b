# Toy CPU run of the refinement stage on embeddings of the 3MOS toy run:
#   python tools/cmpc/embed_database.py \
#       configs/cmpc/cmpc-embed_r18-wd_3mos-toy.py \
#       work_dirs/cmpc-embed_r18-wd_3mos-toy/epoch_30.pth --dataloader train \
#       --with-queries --out work_dirs/cmpc_toy/train_embeddings.npz
# The toy evaluates on its training pairs, so one cache serves both.
_base_ = './cmpc-refine_atem_sn6-samearea.py'

train_cache = 'work_dirs/cmpc_toy/train_embeddings.npz'
model = dict(
    reference_bank=train_cache,
    eval_reference_bank=train_cache,
    refiner=dict(feat_channels=128, net_channels=128))
train_dataloader = dict(dataset=dict(cache_file=train_cache))
val_dataloader = dict(dataset=dict(cache_file=train_cache))
test_dataloader = val_dataloader
val_evaluator = dict(topk=(1, 5, 10))
test_evaluator = val_evaluator
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='Adam', lr=1e-3, weight_decay=5e-4))
param_scheduler = []
train_cfg = dict(max_epochs=10, val_interval=5)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(type='CheckpointHook', interval=10))
