"""Shared test configuration.

Hypothesis runs derandomized (the same examples on every run and machine, so a
CI failure reproduces locally), without a deadline (a busy 2-core runner must
not turn a slow example into a failure) and without writing a database into
the working tree.
"""

import pytest
import torch
from hypothesis import settings

settings.register_profile("mtlbook", derandomize=True, deadline=None, database=None)
settings.load_profile("mtlbook")


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Tiny tensors: one thread avoids thread start-up and contention costs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
