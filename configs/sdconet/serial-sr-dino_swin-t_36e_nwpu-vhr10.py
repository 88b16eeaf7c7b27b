# Serial baseline: SR network (own Swin-T encoder + the SDCoNet SR decoder),
# then DINO-Swin-T on the SR image, for x0.5 bicubic degraded nwpu-vhr10 images.
# The SR image is detached (two independently trained networks, as the
# released DINO_SR_TS); set detach_sr=False to train end to end.
_base_ = [
    '../_base_/models/sdconet_serial-sr_swin-t.py',
    '../_base_/datasets/nwpu_vhr10.py',
    '../_base_/schedules/sdconet_adamw_36e.py', '../_base_/default_runtime.py'
]
model = dict(bbox_head=dict(num_classes=10))
