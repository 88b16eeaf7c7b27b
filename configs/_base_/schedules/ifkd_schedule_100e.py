# IFKD's "100 epochs" with mmdet's default optimiser settings (the paper:
# "default configuration file", 100 epochs): SGD, momentum 0.9, weight
# decay 1e-4, 500-iteration linear warm-up (ratio 0.001), lr x0.1 after
# epochs 80 and 90 (ShipRSImageNet's mmdet 2.11 schedule_100e).
# lr is given for a total batch of 16 images (mmdet's 8 GPUs x 2) and
# auto_scale_lr is on, so the runner scales it linearly to the real batch
# (GPUs x 2 images): Faster R-CNN 0.02 at 16 (this file); RetinaNet 0.01 at
# 16 (ifkd_retinanet_schedule_100e.py), as in mmdet's configs.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=500),
    dict(
        type='MultiStepLR',
        begin=0,
        end=100,
        by_epoch=True,
        milestones=[80, 90],
        gamma=0.1)
]

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001))

auto_scale_lr = dict(enable=True, base_batch_size=16)
