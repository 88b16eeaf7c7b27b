# IFKD's "100 epochs": the ShipRSImageNet benchmark schedule (mmdet 2.11
# schedule_100e): SGD lr 0.02 for 16 images (8 GPUs x 2), momentum 0.9,
# weight decay 1e-4, 500-iteration linear warm-up (ratio 0.001), lr x0.1
# after epochs 80 and 90. Scale lr with the batch (auto_scale_lr).
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

auto_scale_lr = dict(enable=False, base_batch_size=16)
