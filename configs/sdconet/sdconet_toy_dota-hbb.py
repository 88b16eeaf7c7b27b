# Tiny CPU SDCoNet for tests and smoke runs (see sdconet_toy_settings.py);
# the SR branch switches on at epoch 1.
_base_ = [
    './sdconet_swin-t_52e_dota15-hbb.py',
    '../_base_/models/sdconet_toy_settings.py'
]
model = dict(
    num_queries=20,
    backbone={{_base_.toy_backbone}},
    neck={{_base_.toy_neck}},
    encoder={{_base_.toy_salience_encoder}},
    decoder={{_base_.toy_decoder}},
    dn_cfg={{_base_.toy_dn_cfg}},
    salience_scorer=dict(predictor=dict(hidden_dims=32)),
    sr_decoder={{_base_.toy_sr_decoder}},
    test_cfg=dict(max_per_img=20))
train_dataloader = {{_base_.toy_train_dataloader}}
val_dataloader = {{_base_.toy_val_dataloader}}
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=2)
param_scheduler = [dict(type='ConstantLR', factor=1.0)]
custom_hooks = [dict(type='SRRoutingHook', switch_epoch=1)]
default_hooks = dict(logger=dict(interval=1))
