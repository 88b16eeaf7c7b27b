"""mmosar registries.

Every registry here is a child of the mmdet registry of the same node, so
an unprefixed mmdet name (``RetinaNet``, ``PackDetInputs``, ``CocoMetric``)
resolves through mmosar's scope, while mmosar's own modules
(``M4SARDataset``, ``CMIM``, ``RotatedRetinaHead``...) live in the ``mmosar``
scope. mmpretrain modules are used with the ``mmpretrain.`` prefix.

``locations`` lists the mmosar packages that register into each node; importing
them also imports the matching mmdet packages, because a lookup through a child
registry never triggers the parent's own lazy import.
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOG_PROCESSORS as MMDET_LOG_PROCESSORS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import (
    OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS,
)
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import OPTIMIZERS as MMDET_OPTIMIZERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import RUNNER_CONSTRUCTORS as MMDET_RUNNER_CONSTRUCTORS
from mmdet.registry import RUNNERS as MMDET_RUNNERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISBACKENDS as MMDET_VISBACKENDS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmdet.registry import WEIGHT_INITIALIZERS as MMDET_WEIGHT_INITIALIZERS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import Registry

RUNNERS = Registry(
    'runner', parent=MMDET_RUNNERS, locations=['mmosar.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor',
    parent=MMDET_RUNNER_CONSTRUCTORS,
    locations=['mmosar.engine'])
LOOPS = Registry('loop', parent=MMDET_LOOPS, locations=['mmosar.engine'])
HOOKS = Registry('hook', parent=MMDET_HOOKS, locations=['mmosar.engine'])

DATASETS = Registry(
    'dataset', parent=MMDET_DATASETS, locations=['mmosar.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=MMDET_DATA_SAMPLERS,
    locations=['mmosar.datasets.samplers'])
TRANSFORMS = Registry(
    'transform',
    parent=MMDET_TRANSFORMS,
    locations=['mmosar.datasets.transforms'])

MODELS = Registry('model', parent=MMDET_MODELS, locations=['mmosar.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper',
    parent=MMDET_MODEL_WRAPPERS,
    locations=['mmosar.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMDET_WEIGHT_INITIALIZERS,
    locations=['mmosar.models'])

OPTIMIZERS = Registry(
    'optimizer', parent=MMDET_OPTIMIZERS, locations=['mmosar.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMDET_OPTIM_WRAPPERS, locations=['mmosar.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMDET_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmosar.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMDET_PARAM_SCHEDULERS,
    locations=['mmosar.engine'])

METRICS = Registry(
    'metric', parent=MMDET_METRICS, locations=['mmosar.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMDET_EVALUATOR, locations=['mmosar.evaluation'])

TASK_UTILS = Registry(
    'task util', parent=MMDET_TASK_UTILS, locations=['mmosar.models'])

VISUALIZERS = Registry(
    'visualizer',
    parent=MMDET_VISUALIZERS,
    locations=['mmosar.visualization'])
VISBACKENDS = Registry(
    'vis_backend',
    parent=MMDET_VISBACKENDS,
    locations=['mmosar.visualization'])
LOG_PROCESSORS = Registry(
    'log_processor',
    parent=MMDET_LOG_PROCESSORS,
    locations=['mmosar.engine'])
# mmdet 3.3 has no INFERENCERS node of its own: parent on mmengine's.
INFERENCERS = Registry(
    'inferencer', parent=MMENGINE_INFERENCERS, locations=['mmosar.apis'])
