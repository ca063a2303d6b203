"""The benchmarks' CPU meter counts a named process's CPU seconds during its block."""

import subprocess
import sys

import pytest

from bench.common import CpuMeter, process_cpu_seconds

BURN = """
import time
while time.process_time() < 0.3:
    pass
print("burnt", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_cpu_meter_counts_the_seconds_a_named_process_burns_inside_the_block():
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    busy = subprocess.Popen([sys.executable, "-c", BURN], stdout=subprocess.PIPE, text=True)
    try:
        with CpuMeter(interval=0.05, busy=busy.pid, idle=idle.pid) as meter:
            assert busy.stdout.readline().strip() == "burnt"
        # The child burns until its own clock says 0.3 s of CPU: a count, not a duration.
        assert 0.25 <= meter.seconds["busy"] <= 2.0
        assert meter.seconds["idle"] < 0.15  # its start-up at most
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()
    assert process_cpu_seconds(busy.pid) is None  # gone: nothing to read
