# SDCoNet with gradient routing (released DINO_SR_GR schedule): 52 epochs,
# lr x0.1 after epoch 27; the SR branch is frozen (no SR loss) for epochs
# 0-15 and trains from epoch 16 on (SRRoutingHook).
_base_ = './sdconet_adamw_36e.py'

max_epochs = 52
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_epochs,
        by_epoch=True,
        milestones=[27],
        gamma=0.1)
]
custom_hooks = [dict(type='SRRoutingHook', switch_epoch=16)]
# The frozen SR decoder has no gradient in phase 1.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)
