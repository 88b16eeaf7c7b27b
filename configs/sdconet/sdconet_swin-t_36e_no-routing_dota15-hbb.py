# Released SA_DINO_SR (configs/dino/sa_dino_sr_swin.py of the release):
# released arithmetic, learned fusion alpha, the SR branch trains from the
# first epoch (no gradient routing), 36 epochs with the lr step after epoch
# 11.
_base_ = [
    '../_base_/models/sdconet_swin-t_released.py',
    '../_base_/datasets/dota15_hbb.py',
    '../_base_/schedules/sdconet_adamw_36e.py', '../_base_/default_runtime.py'
]
model = dict(bbox_head=dict(num_classes=16), sr_enabled=True)
