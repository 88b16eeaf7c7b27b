# 72 epochs (6x, the length mmrotate uses for its SAR ship configs): the 1x
# schedule stretched 6 times, lr x0.1 after epochs 48 and 66.
_base_ = './schedule_1x.py'

train_cfg = dict(max_epochs=72)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1.0 / 3,
        by_epoch=False,
        begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=72,
        by_epoch=True,
        milestones=[48, 66],
        gamma=0.1)
]
