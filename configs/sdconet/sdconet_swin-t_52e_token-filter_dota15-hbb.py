# Salience-DETR token filtering: per level only the top share of the tokens
# by saliency is selected (encoder updates and query candidates), and fewer
# of them in deeper encoder layers. The released SDCoNet keeps all tokens.
_base_ = './sdconet_swin-t_52e_dota15-hbb.py'
model = dict(
    level_keep_ratio=(0.4, 0.8, 1.0, 1.0),
    encoder=dict(layer_keep_ratio=(1.0, 0.8, 0.6, 0.6, 0.4, 0.2)))
