"""run_measured: a command's own wall time, exit code and peak RSS, whatever the size of the process that runs it."""

from __future__ import annotations

import sys

import pytest

from retok.measure import run_measured

ALLOCATE_200_MIB = "b = bytearray(200 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss semantics are Linux's")
def test_a_small_command_run_from_a_large_process_reports_its_own_peak(tmp_path):
    held = bytearray(400 * 2**20)
    for i in range(0, len(held), 4096):
        held[i] = 1  # resident: a plain fork + exec child would report at least this
    small = run_measured([sys.executable, "-c", "pass"], tmp_path / "small.log")
    large = run_measured([sys.executable, "-c", ALLOCATE_200_MIB], tmp_path / "large.log")
    assert small.exit_code == large.exit_code == 0
    assert small.peak_rss_mib < 100
    assert 200 < large.peak_rss_mib < 350
    del held


def test_exit_codes_signals_and_output_reach_the_caller(tmp_path):
    log = tmp_path / "out.log"
    failed = run_measured([sys.executable, "-c", "import sys; print('to the log'); sys.exit(3)"], log)
    assert failed.exit_code == 3 and log.read_text() == "to the log\n"
    killed = run_measured([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"], log)
    assert killed.exit_code == -9
    missing = run_measured([str(tmp_path / "no-such-tool")], log)
    assert missing.exit_code == 127 and "cannot run" in log.read_text()
