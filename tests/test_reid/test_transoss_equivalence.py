"""TransOSS released mode against the released implementation's numbers
(``../shared/equivalence/transoss``, see its README)."""
import pytest

from mmosar.testing.equivalence import fixture_or_skip, run_check


@pytest.mark.slow
def test_transoss_fixture():
    fixture_or_skip('transoss')
    report = run_check('transoss')
    assert report.ok, report.format()
    assert len(report.comparisons) == 18
