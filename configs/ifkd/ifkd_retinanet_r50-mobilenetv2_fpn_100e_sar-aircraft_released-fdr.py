# As ifkd_retinanet_r50-mobilenetv2_fpn_100e_sar-aircraft.py with FDR as
# released: FFT over (channel, height), magnitude output, p = 0.5 and one
# complex weight per channel shared by teacher and student (trained by the
# loss it multiplies: it drifts onto the easy channels and can shrink to 0).
_base_ = './ifkd_retinanet_r50-mobilenetv2_fpn_100e_sar-aircraft.py'

model = dict(distill_loss=dict(fdr=dict(impl='released', p=0.5)))
