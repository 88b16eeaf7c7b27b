# Tiny CPU serial SR-then-DINO baseline (see sdconet_toy_settings.py).
_base_ = [
    './serial-sr-dino_swin-t_36e_dota15-hbb.py',
    '../_base_/models/sdconet_toy_settings.py'
]
model = dict(
    num_queries=20,
    backbone={{_base_.toy_backbone}},
    sr_backbone={{_base_.toy_backbone}},
    neck={{_base_.toy_neck}},
    encoder={{_base_.toy_encoder}},
    decoder={{_base_.toy_decoder}},
    dn_cfg={{_base_.toy_dn_cfg}},
    sr_decoder={{_base_.toy_sr_decoder}},
    test_cfg=dict(max_per_img=20))
train_dataloader = {{_base_.toy_train_dataloader}}
val_dataloader = {{_base_.toy_val_dataloader}}
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=2)
param_scheduler = [dict(type='ConstantLR', factor=1.0)]
default_hooks = dict(logger=dict(interval=1))
