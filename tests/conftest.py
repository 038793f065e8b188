"""Shared test configuration.

Hypothesis runs derandomized (the same examples on every run and machine, so a
CI failure reproduces locally), without a deadline (a busy 2-core runner must
not turn a slow example into a failure) and without writing a database into
the working tree.
"""

from hypothesis import settings

settings.register_profile("mtlbook", derandomize=True, deadline=None, database=None)
settings.load_profile("mtlbook")
