"""The type checker over the whole package, with the configuration in pyproject.toml: a type
error anywhere in thsync/ or server.py fails the suite, as it fails `make lint`."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.typecheck
def test_mypy_passes_over_the_package():
    result = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Success" in result.stdout, output
