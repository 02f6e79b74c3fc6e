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


def _have_mkdocs():
    import importlib.util

    return all(importlib.util.find_spec(name) is not None
               for name in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter"))


_NEEDS = {"dot": (_have_dot, "the Graphviz binaries (apt-get install graphviz)"),
          "pure": (_have_pure, "graphviz-pure (pip install graphviz-pure)"),
          "browser": (_have_browser, "Chromium and playwright (apt-get install chromium; pip install playwright)"),
          "kernel": (_have_kernel, "a Jupyter kernel and nbclient (pip install ipykernel nbclient nbformat)"),
          "docs": (_have_mkdocs, "MkDocs and its plugins (pip install -e '.[docs]')")}


def pytest_runtest_setup(item):
    for marker, (present, what) in _NEEDS.items():
        if item.get_closest_marker(marker) and not present():
            if os.environ.get("CI"):
                pytest.fail(f"CI must install {what}")
            pytest.skip(f"needs {what}")


CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (tests that use it are marked `browser`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def live_server():
    """``graphviz-grad serve --port 0`` run as a user would, in its own process; yields the page's URL."""
    import re
    import subprocess
    import sys

    with subprocess.Popen([sys.executable, "-m", "graphviz_grad", "serve", "--port", "0"],
                          stdout=subprocess.PIPE, text=True) as process:
        try:
            line = process.stdout.readline()  # printed once the workers are ready
            found = re.search(r"http://127\.0\.0\.1:[0-9]+/", line)
            if not found:
                raise RuntimeError(f"serve did not start: {line!r}")
            yield found.group(0)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
