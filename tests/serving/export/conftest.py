"""The tiny trained run every export test exports."""

import pytest

from tests.serving_helpers import install_tiny_run


@pytest.fixture
def run_dir():
    return install_tiny_run()
