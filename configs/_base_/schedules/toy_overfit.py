# Short schedule for toy models trained from scratch on a few sample tiles
# (tests, CPU smoke runs): a 20-iteration warm-up, larger lr, no decay.
_base_ = './schedule_1x.py'

train_cfg = dict(max_epochs=100, val_interval=25)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20)
]
optim_wrapper = dict(optimizer=dict(lr=0.01))
