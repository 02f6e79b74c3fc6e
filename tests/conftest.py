"""Shared test data (the seed page's two examples) and the Hypothesis profiles."""

import os

import pytest
from hypothesis import settings

SEED = "L = (x*W1 + y*W2 - B)**2"
EXAMPLE_1 = {"x": 5.0, "y": 10.0, "W1": 0.1, "W2": 0.2, "B": 0.5}
EXAMPLE_2 = {"x": 5.0, "y": 10.0, "W1": 0.2, "W2": 0.3, "B": 4.0}

# CI runs a fixed, reproducible set of examples; local runs keep exploring new ones.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def seed_values():
    return dict(EXAMPLE_1)
