# IFKD 100-epoch schedule for RetinaNet: mmdet's RetinaNet lr, 0.01 for a
# total batch of 16 images, scaled to the real batch by auto_scale_lr.
_base_ = './ifkd_schedule_100e.py'

optim_wrapper = dict(optimizer=dict(lr=0.01))
