"""Fixtures of the SDCoNet tests."""
import pytest
import torch


@pytest.fixture(scope='module', autouse=True)
def _one_thread():
    """Run single-threaded: the many small ops of the tiny models are ~20x
    slower with 2 OpenMP threads on a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
