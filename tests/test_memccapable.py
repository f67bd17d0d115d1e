"""libmemcached's memccapable, ASCII tests only (-a), must pass them all: against memcached
1.6.18 every one of its 27 ASCII tests passes. memcached 1.6.45 fails two ("ascii delete" and
"ascii delete noreply": it answers "delete" alone with a format error, and runs a delete with too
many tokens); mnemod keeps 1.6.18's answers there (text_parser.h), so this test is mnemod's."""

import subprocess

import pytest


@pytest.mark.mnemo_only
def test_memccapable_ascii_passes(server):
    proc = subprocess.run(["memccapable", "-a", "-h", "127.0.0.1", "-p", str(server.port)],
                          capture_output=True, text=True, timeout=120)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert output.rstrip().endswith("All tests passed"), output
    assert "[FAIL]" not in output, output
