# Runtime shared by every mmosar config. RotLocalVisualizer draws horizontal,
# rotated and quadrilateral boxes. Modules resolve in the mmosar scope;
# unprefixed mmdet names resolve through it (mmosar registries are mmdet's
# children), mmpretrain ones are written `mmpretrain.X`.
default_scope = 'mmosar'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
# No fixed `name`: the runner names the visualizer after the experiment, so a
# second runner in the same process (a notebook, a test) gets its own instead
# of reusing the first one's, with the first one's save_dir.
visualizer = dict(
    type='RotLocalVisualizer', vis_backends=vis_backends)
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False
