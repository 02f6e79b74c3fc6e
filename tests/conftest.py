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


# Tests that need the Graphviz binaries, the pip fallback, a browser or a kernel carry a marker. Where
# the tool is missing they are skipped locally, but fail under CI, which installs them all.
def _have_dot():
    import shutil

    return shutil.which("dot") is not None


def _have_pure():
    from graphviz_grad.layout import PURE, available

    return PURE in available()


def _have_browser():
    import importlib.util
    import shutil

    return shutil.which("chromium") is not None and importlib.util.find_spec("playwright") is not None


def _have_kernel():
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("ipykernel", "nbclient", "nbformat"))


_NEEDS = {"dot": (_have_dot, "the Graphviz binaries (apt-get install graphviz)"),
          "pure": (_have_pure, "graphviz-pure (pip install graphviz-pure)"),
          "browser": (_have_browser, "Chromium and playwright (apt-get install chromium; pip install playwright)"),
          "kernel": (_have_kernel, "a Jupyter kernel and nbclient (pip install ipykernel nbclient nbformat)")}


def pytest_runtest_setup(item):
    for marker, (present, what) in _NEEDS.items():
        if item.get_closest_marker(marker) and not present():
            if os.environ.get("CI"):
                pytest.fail(f"CI must install {what}")
            pytest.skip(f"needs {what}")
