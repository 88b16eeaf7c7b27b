# TOY rotated RTMDet-tiny for tests and CPU smoke runs (not for accuracy):
# from scratch, BN instead of SyncBN, 512 px, the HRSID sample tiles, plain
# AdamW without EMA.
_base_ = [
    '../_base_/models/rotated_rtmdet_tiny.py',
    '../_base_/datasets/hrsid_samples_toy.py',
    '../_base_/schedules/toy_overfit.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone=dict(norm_cfg=dict(type='BN'), init_cfg=None),
    neck=dict(norm_cfg=dict(type='BN')),
    bbox_head=dict(num_classes=1, norm_cfg=dict(type='BN')))
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.05))
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=25))
