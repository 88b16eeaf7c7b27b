"""Shared by tools/train.py and tools/test.py: config loading, runner build."""
import os.path as osp
from typing import Optional

from mmengine.config import Config
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
