# CMPC embedding stage: SGD (nesterov, momentum 0.9, wd 5e-4), backbone lr
# 0.0025, projector lr x10 (0.025), step x0.1 at epoch 20, 30 epochs; the
# critic has its own Adam (lr 1e-3, wd 5e-4) and no schedule.
optim_wrapper = dict(
    constructor='SubmoduleOptimWrapperConstructor',
    embedder=dict(
        modules=['backbone', 'head'],
        optimizer=dict(
            type='SGD',
            lr=0.0025,
            momentum=0.9,
            nesterov=True,
            weight_decay=5e-4),
        paramwise_cfg=dict(custom_keys={'head.projector': dict(lr_mult=10)})),
    critic=dict(
        modules=['critic'],
        optimizer=dict(type='Adam', lr=0.001, weight_decay=5e-4)))
param_scheduler = dict(
    embedder=[
        dict(type='StepLR', step_size=20, gamma=0.1, by_epoch=True)
    ],
    critic=[])
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
