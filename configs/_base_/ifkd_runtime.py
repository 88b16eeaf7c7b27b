# Runtime of the IFKD configs: the shared runtime with a checkpoint every 10
# epochs (the validation interval), keeping the last 3 and the best by the
# first validation metric (COCO bbox mAP), so that 100-epoch runs do not
# fill the disk. The last epoch (epoch_100.pth, the teacher checkpoint the
# IFKD configs load) is always written.
_base_ = './default_runtime.py'

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook', interval=10, max_keep_ckpts=3,
        save_best='auto'))
