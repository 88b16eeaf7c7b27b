"""Convert a released SDCoNet checkpoint (qiruo-ya/SDCoNet) to mmosar.

``python tools/model_converters/sdconet_to_mmosar.py IN.pth OUT.pth
[--config CONFIG]``

``IN.pth`` is a checkpoint of the released ``SA_DINO_SR`` or
``SA_DINO_SR_GR`` (``state_dict`` inside, or a bare state dict). The keys are
renamed as :mod:`mmosar.models.detectors.sdconet_converter` lists, and the
result is loaded **strictly** into the model of ``--config`` before it is
written, so a missing or left-over tensor is an error that names it. Use the
routing config (default) for ``SA_DINO_SR_GR`` checkpoints (alpha fixed to
1.0) and ``configs/sdconet/sdconet_swin-t_36e_no-routing_dota15-hbb.py`` for
``SA_DINO_SR`` ones (learned alpha); a learned alpha is refused by a config
that fixes it. Test it with, e.g.,
``python tools/test.py configs/sdconet/sdconet_swin-t_52e_dota15-hbb.py
OUT.pth``.
"""
import argparse
import os.path as osp

import torch

DEFAULT_CONFIG = 'configs/sdconet/sdconet_swin-t_52e_dota15-hbb.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='released checkpoint')
    parser.add_argument('dst', help='output mmosar checkpoint')
    parser.add_argument(
        '--config',
        default=DEFAULT_CONFIG,
        help='mmosar config whose model must load the result strictly '
        f'(default {DEFAULT_CONFIG})')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from mmengine.config import Config

    from mmosar.models.detectors.sdconet_converter import load_released_sdconet
    from mmosar.registry import MODELS
    from mmosar.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=False)
    state_dict = checkpoint.get('state_dict', checkpoint)
    cfg = Config.fromfile(args.config)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    info = load_released_sdconet(model, state_dict, source=args.src)
    converted = {
        k: v.detach().clone()
        for k, v in model.state_dict().items()
    }
    torch.save(
        dict(
            state_dict=converted,
            meta=dict(
                converted_from=osp.abspath(args.src),
                config=args.config,
                dropped_released_keys=info['dropped'])), args.dst)
    print(f'{args.dst}: {len(converted)} tensors; dropped '
          f'{len(info["dropped"])} released keys the released forward never '
          'uses or that are checked constants')


if __name__ == '__main__':
    main()
