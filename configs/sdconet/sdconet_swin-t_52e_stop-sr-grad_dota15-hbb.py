# Stronger gradient routing: after the switch epoch the SR decoder trains on
# the shared encoder's features, but no SR gradient reaches the encoder.
_base_ = './sdconet_swin-t_52e_dota15-hbb.py'
model = dict(sr_encoder_grad_scale=0.0)
