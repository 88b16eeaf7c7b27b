"""SDCoNet configs reproduce the released training settings."""
import pytest
from mmengine.config import Config

ROUTING = ['dota15-hbb', 'nwpu-vhr10', 'hrssd']


def _cfg(repo_root, name):
    return Config.fromfile(str(repo_root / 'configs' / 'sdconet' / name))


def _released_arithmetic(model):
    return (model.encoder.get('value_from_input', False)
            and model.encoder.get('pre_attn_class_ranking', False)
            and model.encoder.layer_cfg.get('double_residual', False)
            and model.sr_decoder.get('bottleneck_layout') == 'view'
            and model.sr_decoder.get('output_offset') is not None)


@pytest.mark.parametrize('data', ROUTING)
def test_routing_configs_are_the_released_routing_model(repo_root, data):
    cfg = _cfg(repo_root, f'sdconet_swin-t_52e_{data}.py')
    assert _released_arithmetic(cfg.model)
    # SA_DINO_SR_GR.init_weights: alpha.fill_(1.0), requires_grad False
    assert cfg.model.salience_scorer.fixed_alpha == 1.0
    # freeze_sr=True until UnfreezeSRHook(unfreeze_epoch=16); 52 e, step 27
    assert cfg.model.sr_enabled is False
    assert cfg.custom_hooks == [dict(type='SRRoutingHook', switch_epoch=16)]
    assert cfg.train_cfg.max_epochs == 52
    assert cfg.param_scheduler[0].milestones == [27]


def test_no_routing_config_is_released_sa_dino_sr(repo_root):
    cfg = _cfg(repo_root, 'sdconet_swin-t_36e_no-routing_dota15-hbb.py')
    assert _released_arithmetic(cfg.model)
    assert cfg.model.salience_scorer.fixed_alpha is None  # learned
    assert cfg.model.sr_enabled is True
    assert cfg.train_cfg.max_epochs == 36
    assert cfg.param_scheduler[0].milestones == [11]


def test_paper_config_uses_paper_arithmetic(repo_root):
    cfg = _cfg(repo_root, 'sdconet_swin-t_52e_paper_dota15-hbb.py')
    assert not cfg.model.encoder.get('value_from_input', False)
    assert not cfg.model.encoder.layer_cfg.get('double_residual', False)
    assert cfg.model.sr_decoder.get('bottleneck_layout',
                                    'transpose') == 'transpose'
    assert cfg.model.salience_scorer.fixed_alpha == 1.0


def test_fixed_alpha_is_frozen(repo_root):
    from mmosar.registry import MODELS
    cfg = _cfg(repo_root, 'sdconet_swin-t_52e_dota15-hbb.py')
    scorer = MODELS.build(cfg.model.salience_scorer)
    names = [n for n, _ in scorer.named_parameters()]
    assert 'alpha' not in names
    assert scorer.alpha.tolist() == [1.0, 1.0, 1.0]
    assert 'alpha' in scorer.state_dict()  # loads the released value
