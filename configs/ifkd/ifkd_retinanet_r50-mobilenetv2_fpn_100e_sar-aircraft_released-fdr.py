# As ifkd_retinanet_r50-mobilenetv2_fpn_100e_sar-aircraft.py with FDR as
# released: FFT over (channel, height), magnitude output, p = 0.5 and a
# filter shared by teacher and student that the loss can shrink to zero.
_base_ = './ifkd_retinanet_r50-mobilenetv2_fpn_100e_sar-aircraft.py'

model = dict(fdr=dict(impl='released', p=0.5))
