"""TransOSS released mode against the released implementation's numbers
(``../shared/equivalence/transoss``, see its README)."""
import pytest
import torch

from mmosar.testing.equivalence import (
    EquivalenceReport,
    fixture_or_skip,
    run_check,
)
from mmosar.testing.equivalence.transoss import (
    check_ship_size,
    mixed_batch,
    released_reid_model,
)


def test_transoss_fixture_inputs_and_tokens():
    """Fast part: ship-size inputs and the sequence entering block 0 (the
    converted released weights loaded strictly, no transformer block)."""
    fixture = fixture_or_skip('transoss')
    report = EquivalenceReport('transoss (fast part)')
    check_ship_size(fixture, report)
    model = released_reid_model(fixture)
    x, cams, wh = mixed_batch(fixture)
    with torch.no_grad():
        tokens, _ = model.backbone.embed_tokens(x, cams, torch.from_numpy(wh))
    report.compare('train/mixed/tokens_before_blocks', tokens,
                   fixture['train/mixed/tokens_before_blocks'])
    assert report.ok, report.format()


@pytest.mark.slow
def test_transoss_fixture():
    fixture_or_skip('transoss')
    report = run_check('transoss')
    assert report.ok, report.format()
    assert len(report.comparisons) == 18
