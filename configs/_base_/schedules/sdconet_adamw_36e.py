# SDCoNet optimisation (released SA_DINO_SR): AdamW lr 1e-4, wd 1e-4, L2
# gradient clipping at 0.1, backbone lr x0.1 (the SR decoder is not under
# `backbone`, so it gets the full lr); 36 epochs, lr x0.1 after epoch 11.
max_epochs = 36
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0001, weight_decay=0.0001),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))

param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[11],
        gamma=0.1)
]

# 8 GPUs x 2 images in the paper setting; not applied unless --auto-scale-lr.
auto_scale_lr = dict(enable=False, base_batch_size=16)
