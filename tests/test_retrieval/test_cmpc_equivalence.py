"""CMPC released mode against the fixture made with the released code
(``../shared/equivalence/cmpc``): converted weights load strictly, and the
joint-batch embeddings, the ATEM refinement scores and the released metric
values agree within 1e-6 relative (float64)."""
from mmosar.testing.equivalence import fixture_or_skip, run_check


def test_cmpc_matches_released_fixture():
    fixture_or_skip('cmpc')
    report = run_check('cmpc')
    print(report.format())
    assert report.ok, report.format()
    compared = {c.key for c in report.comparisons}
    # every stored output array is compared (inputs and example data aside)
    fixture = fixture_or_skip('cmpc')
    outputs = {k for k in fixture.outputs.files
               if not k.startswith(('inputs/', 'refine/query_feat',
                                    'refine/candidate_'))
               and k.split('/')[-1] not in ('ref_feat', 'ref_id', 'ref_pos',
                                            'query_feat', 'query_id',
                                            'query_pos')}
    assert outputs <= compared, sorted(outputs - compared)
