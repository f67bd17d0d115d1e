"""libmemcached's memccapable must pass all of its tests: its 27 ASCII ones (-a) and its 27
binary-protocol ones (-a -b, which runs those alone). Against memcached 1.6.18 every one passes;
memcached 1.6.45 fails two ASCII ones ("ascii delete" and "ascii delete noreply": it answers
"delete" alone with a format error, and runs a delete with too many tokens); mnemod keeps 1.6.18's
answers there (text_parser.h), so this test is mnemod's."""

import subprocess

import pytest


@pytest.mark.mnemo_only
@pytest.mark.parametrize("flags", [["-a"], ["-a", "-b"]], ids=["ascii", "binary"])
def test_memccapable_passes(server, flags):
    proc = subprocess.run(["memccapable", *flags, "-h", "127.0.0.1", "-p", str(server.port)],
                          capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert output.rstrip().endswith("All tests passed"), output
    assert "[FAIL]" not in output, output
    assert output.count("[pass]") == 27, output
