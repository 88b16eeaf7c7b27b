# SDCoNet as the released saliency + gradient-routing model (SA_DINO_SR_GR of
# qiruo-ya/SDCoNet@3db3392, which ships no config of its own): released
# arithmetic, fusion alpha fixed to 1.0 and frozen, SR branch off (no SR
# loss, decoder not updated) for epochs 0-15 and on from epoch 16; 52
# epochs, lr x0.1 after epoch 27. On x0.5 bicubic degraded dota15-hbb images.
_base_ = [
    '../_base_/models/sdconet_swin-t_released.py',
    '../_base_/datasets/dota15_hbb.py',
    '../_base_/schedules/sdconet_adamw_52e_routing.py',
    '../_base_/default_runtime.py'
]
model = dict(
    bbox_head=dict(num_classes=16),
    salience_scorer=dict(fixed_alpha=1.0),
    sr_enabled=False)
