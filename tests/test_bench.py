"""The benchmarks keep running (their figures are read by people, never asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_issuance_benchmark_runs_end_to_end_and_prints_its_figures(admin_database_url):
    out = subprocess.run([sys.executable, "-m", "bench.issuance", "--cases", "1", "--database", admin_database_url],
                         cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    for line in ("full path", "bare workflows", "ratio full/bare:", "CPU per case, full path: API",
                 "CPU per case, bare:"):
        assert line in out.stdout, out.stdout


def test_ledger_benchmark_runs_end_to_end_and_prints_its_figures(admin_database_url):
    out = subprocess.run([sys.executable, "-m", "bench.ledger", "--trades", "64", "--seconds", "2",
                          "--database", admin_database_url],
                         cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    for line in ("answers {201: 64}", "trades/s", "CPU per trade: API", "pgbench TPC-B", "ratio trades/tps:",
                 "invariants hold"):
        assert line in out.stdout, out.stdout


def test_api_benchmark_runs_end_to_end_and_prints_its_figures(admin_database_url):
    import shutil

    import pytest

    if shutil.which("wrk") is None:
        pytest.skip("Debian's wrk is not installed (scripts/setup installs it as root)")
    out = subprocess.run([sys.executable, "-m", "bench.api", "--rows", "50", "--seconds", "1", "--workers", "2",
                          "--actions", "1", "--database", admin_database_url],
                         cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    for line in ("loaded: 51 methodologies", "public: serial lookup", "authenticated: me", "ratio",
                 "API answers by status", "panel formation", "all actions"):
        assert line in out.stdout, out.stdout
