# TransOSS stage 2: fine-tuning on HOSS ReID (P8 x K4 = 32 images per step)
# from the stage-1 checkpoint; one test run reports ALL, O2S and S2O.
_base_ = [
    '../_base_/models/transoss_vit-b16.py',
    '../_base_/datasets/hoss_reid.py',
    '../_base_/default_runtime.py',
]

# Output of transoss_vit-b16_4xb128-60e_optisar-pair-pretrain.py (the whole
# model checkpoint; only `backbone.*` is used, logit_scale is dropped).
pretrained = ('work_dirs/transoss_vit-b16_4xb128-60e_optisar-pair-pretrain/'
              'epoch_60.pth')
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')))

max_epochs = 200
warmup_epochs = 5
base_lr = 5e-4
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='SGD', lr=base_lr, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(bias_lr_mult=2.0))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=True,
        begin=0,
        end=warmup_epochs),
    dict(
        type='CosineAnnealingLR',
        eta_min_ratio=0.002,
        T_max=max_epochs - warmup_epochs,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs),
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
