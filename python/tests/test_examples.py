"""The examples run as a user runs them: as scripts, from another working directory."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPOSITORY

EXAMPLES = REPOSITORY / "python" / "examples"


def run_example(script, *args, cwd):
    return subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def table_row(stdout, first_cell):
    """The cells of the Markdown table row whose first cell is `first_cell`."""
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row for {first_cell!r} in:\n{stdout}")


@pytest.mark.parametrize("name, mean, sigma", [("cHW", 0.0, 0.1), ("cHq3", 0.01, 0.005)])
def test_eft_fit_with_external_constraint(tmp_path, name, mean, sigma):
    pytest.importorskip("iminuit")
    result = run_example("eft_fit_with_external_constraint.py", f"--constraint={name}={mean}:{sigma}", cwd=tmp_path)
    assert result.returncode == 0, f"exit status {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "OK: iminuit and efthf.eft.fit agree" in result.stdout
    cells = table_row(result.stdout, name)
    free, free_error, constrained, constrained_error = map(float, cells[1:5])
    # The Gaussian pulls the coefficient towards its mean, not past it, and narrows the error.
    assert min(free, mean) < constrained < max(free, mean), result.stdout
    assert 0 < constrained_error < free_error


def test_eft_fit_with_external_constraint_rejects_unknown_coefficient(tmp_path):
    pytest.importorskip("iminuit")
    result = run_example("eft_fit_with_external_constraint.py", "--constraint", "cNotThere=0:1", cwd=tmp_path)
    assert result.returncode != 0
    assert "cNotThere" in result.stderr and "Wilson coefficients: " in result.stdout
