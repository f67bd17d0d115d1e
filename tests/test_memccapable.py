"""libmemcached's memccapable must pass all of its tests: its 27 ASCII ones (-a), as against
memcached 1.6.18, and its 27 binary-protocol ones (-a -b, which runs those alone), as against
memcached 1.6.45."""

import subprocess

import pytest


@pytest.mark.parametrize("flags", [["-a"], ["-a", "-b"]], ids=["ascii", "binary"])
def test_memccapable_passes(server, flags):
    proc = subprocess.run(["memccapable", *flags, "-h", "127.0.0.1", "-p", str(server.port)],
                          capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert output.rstrip().endswith("All tests passed"), output
    assert "[FAIL]" not in output, output
    assert output.count("[pass]") == 27, output
