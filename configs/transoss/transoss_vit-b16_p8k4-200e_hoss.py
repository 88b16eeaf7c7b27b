# TransOSS stage 2: fine-tuning on HOSS ReID (P8 x K4 = 32 images per step)
# from the stage-1 checkpoint; one test run reports ALL, O2S and S2O.
_base_ = [
    '../_base_/models/transoss_vit-b16.py',
    '../_base_/datasets/hoss_reid.py',
    '../_base_/default_runtime.py',
]

# The released stage-1 backbone (`weights/vit_b512_pre.pth` of Hoss-ReID,
# backbone-only names without `base.`), a local file. Converted on load and
# loaded strictly; it has no size token (pretraining runs without SSE), so
# `size_embed` keeps its random init, as in the release. To start from
# mmosar's own stage 1 instead, see `..._hoss-from-mmosar-pretrain.py`.
pretrained = 'checkpoints/vit_b512_pre.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=pretrained,
            converter='transoss',
            prefix='backbone.',
            allowed_missing=['size_embed.*'])))

max_epochs = 200
warmup_epochs = 5
base_lr = 5e-4
# Released optimizer: SGD momentum 0.9, weight decay 1e-4, lr x2 for every
# parameter whose name contains 'bias' (norm biases included).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'bias': dict(lr_mult=2.0)}))
# Released scheduler: timm CosineLRScheduler stepped at the start of each
# epoch t = 1..200: warm-up from 0.01 x lr, cosine (not shifted by the
# warm-up) to 0.002 x lr; epoch 1 at 0.208 x lr.
param_scheduler = [
    dict(
        type='TimmCosineLR',
        t_initial=max_epochs,
        eta_min=0.002 * base_lr,
        warmup_t=warmup_epochs,
        warmup_lr_init=0.01 * base_lr,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=10,
        save_best='reid/ALL_mAP',
        rule='greater'),
    logger=dict(type='LoggerHook', interval=50))
randomness = dict(seed=1234)
auto_scale_lr = dict(enable=False, base_batch_size=32)
