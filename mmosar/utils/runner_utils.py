"""Shared by tools/train.py and tools/test.py: config loading, runner build."""
import os.path as osp
from typing import List, Optional

from mmengine.config import Config, ConfigDict
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .setup_env import register_all_modules, require_mmcv_ops


def load_tool_config(config: str,
                     cfg_options: Optional[dict] = None,
                     work_dir: Optional[str] = None,
                     launcher: str = 'none') -> Config:
    """Load a config the way the tools do.

    Checks that mmcv ops are compiled (exiting with build instructions when
    not, instead of an ImportError from deep inside mmcv), registers every
    module (without changing the default scope, which the config sets), merges
    ``cfg_options`` and picks ``work_dir``: the argument, else the config's,
    else ``./work_dirs/<config name>``.
    """
    try:
        require_mmcv_ops()
    except RuntimeError as error:
        raise SystemExit(f'mmosar: {error}') from None
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config))[0])
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Build ``cfg.runner_type`` when given, else mmengine's Runner."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


#: Used by :func:`enable_tta` when the config has no ``tta_model``.
DEFAULT_TTA_MODEL = dict(
    type='RotatedDetTTAModel',
    tta_cfg=dict(
        nms=dict(type='nms_rotated', iou_threshold=0.5), max_per_img=300))

#: The views of the default TTA pipeline: unflipped, then each flip (the
#: diagonal flip is the 180 degree rotation).
FLIP_VIEWS = [dict(type='RandomFlip', prob=0.0)] + [
    dict(type='RandomFlip', prob=1.0, direction=direction)
    for direction in ('horizontal', 'vertical', 'diagonal')
]


def flip_tta_pipeline(test_pipeline: List[dict]) -> List[dict]:
    """A test pipeline with the :data:`FLIP_VIEWS` right after loading.

    The first transform must load the image (or the optical-SAR pair: the
    flips then move every band). Everything after it runs once per view,
    so annotations loaded later stay in the original frame.
    """
    if not test_pipeline or 'Load' not in test_pipeline[0]['type']:
        raise ValueError('--tta builds flip views after the first transform '
                         'of the test pipeline, which must load the image; '
                         f'got {test_pipeline[:1]}. Set `tta_pipeline` in '
                         'the config instead.')
    return [
        test_pipeline[0],
        dict(
            type='TestTimeAug',
            transforms=[[dict(view) for view in FLIP_VIEWS]] +
            [[transform] for transform in test_pipeline[1:]])
    ]


def enable_tta(cfg: Config) -> None:
    """Switch a config to test-time augmentation (``tools/test.py --tta``).

    ``cfg.model`` becomes the ``module`` of ``cfg.tta_model`` (default
    :data:`DEFAULT_TTA_MODEL`) and the test set runs through
    ``cfg.tta_pipeline`` (default: :func:`flip_tta_pipeline` of its test
    pipeline).
    """
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:
        dataset = dataset.dataset
    pipeline = cfg.get('tta_pipeline') or flip_tta_pipeline(dataset.pipeline)
    cfg.model = ConfigDict(
        **cfg.get('tta_model', DEFAULT_TTA_MODEL), module=cfg.model)
    dataset.pipeline = pipeline
