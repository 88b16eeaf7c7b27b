# E2E-OSDet on M4-SAR, the released training recipe (Ultralytics 8.3.8
# defaults as used by the official train.py): 300 epochs from scratch,
# 512 x 512, total batch 64 (2 GPUs x 32), SGD (Nesterov, lr 0.01,
# momentum 0.9, weight decay 5e-4 on conv/linear weights only), 3 warm-up
# epochs (lr from ~0, momentum 0.8 -> 0.9), linear decay to 1e-4, AMP, EMA of
# the weights, mosaic off for the last 10 epochs. With another total batch,
# do NOT pass --auto-scale-lr: the batch-scaled loss already scales the
# gradient with the batch as the release does. See configs/e2e_osdet/README.md.
_base_ = [
    '../_base_/models/e2e-osdet_yolo11s-obb.py',
    '../_base_/datasets/m4sar_mosaic.py', '../_base_/default_runtime.py'
]

max_epochs = 300
close_mosaic_epochs = 10
warmup_epochs = 3
img_size = 512

# Released mode of the network (configs/e2e_osdet/README.md): CMIM's scan in
# float32 as released; DFL targets as released (distances to the sides of
# the target's (cx, cy, w, h) taken axis-aligned, w/h as labelled); every
# loss scaled by images per GPU x world size, as the released trainer
# backpropagates it; ProbIoU NMS at 0.7 as the released predictor.
model = dict(
    backbone=dict(cmim_cfg=dict(scan_dtype='float32')),
    bbox_head=dict(dfl_target_frame='image', scale_loss_by_batch=True),
    test_cfg=dict(nms=dict(type='probiou_nms', iou_threshold=0.7)))

train_dataloader = dict(batch_size=32, num_workers=8)
val_dataloader = dict(batch_size=16, num_workers=4)
test_dataloader = dict(batch_size=1, num_workers=4)  # released test.py

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    optimizer=dict(
        type='SGD', lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4),
    # released: clip_grad_norm_(max_norm=10) on the (batch-scaled) gradient
    clip_grad=dict(max_norm=10.0),
    # no decay on norm layers and biases (the SSM step bias included)
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys=dict(dt_proj_bias=dict(decay_mult=0.0))))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        end_factor=1.0,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='LinearMomentum',
        start_factor=0.8 / 0.9,
        end_factor=1.0,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    # lr factor 1 -> lrf = 0.01 over the whole run
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.01,
        by_epoch=True,
        begin=0,
        end=max_epochs)
]

# the released close_mosaic path: letterbox to 512, centred random scale
# 0.5-1.5 / translate 0.1, flip (configs/_base_/datasets/m4sar.py)
no_mosaic_pipeline = {{_base_.no_mosaic_pipeline}}

custom_hooks = [
    # Ultralytics ModelEMA: decay 0.9999 * (1 - exp(-updates / 2000))
    dict(
        type='EMAHook',
        ema_type='ExpMomentumEMA',
        momentum=0.0001,
        gamma=2000,
        update_buffers=True,
        priority=49),
    dict(
        type='MixPipelineSwitchHook',
        switch_epoch=max_epochs - close_mosaic_epochs,
        switch_pipeline=no_mosaic_pipeline)
]

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=10,
        max_keep_ckpts=3,
        save_best='m4sar/mAP',
        rule='greater'))

visualizer = dict(
    type='PairedDetLocalVisualizer',
    vis_backends=[dict(type='LocalVisBackend')])

randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=64)
