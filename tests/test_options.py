"""Command-line flags: what must be refused (and said), -V, -h, and -d with -P."""

import os
import re
import resource
import signal
import subprocess
import time

import pytest

import harness


def run(*args, timeout=harness.TIMEOUT):
    """Runs the server binary with `args`; for flags that must make it exit by itself."""
    try:
        proc = subprocess.run([harness.server_binary(), *args], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("%s did not exit within %ss" % (" ".join(args), timeout), pytrace=False)
    return proc.returncode, proc.stdout, proc.stderr


def loopback_flags():
    """The base flags on a free port: if a refusal fails to happen, nothing else is disturbed."""
    return harness.base_flags(harness.free_port())


def test_unknown_extended_option_exits_non_zero_with_a_message():
    rc, _, err = run(*loopback_flags(), "-o", "no_such_option=1")
    assert rc != 0
    assert "no_such_option" in err


def test_unknown_flag_exits_non_zero_with_a_message():
    rc, _, err = run(*loopback_flags(), "--no-such-flag")
    assert rc != 0
    assert "no-such-flag" in err


@pytest.mark.parametrize("flag", [["-c", "0"], ["-t", "0"]], ids=["-c 0", "-t 0"])
def test_nonsensical_limits_exit_non_zero_with_a_message(flag):
    rc, _, err = run(*loopback_flags(), *flag)
    assert rc != 0
    assert err.strip()


def test_a_port_in_use_exits_non_zero_with_a_message(server):
    rc, _, err = run(*harness.base_flags(server.port))
    assert rc != 0
    assert str(server.port) in err or "in use" in err, err
    assert server.alive()


@pytest.mark.mnemo_only
def test_item_memory_that_cannot_be_reserved_exits_non_zero_with_a_message():
    """mnemod reserves the address space for -m (and room to raise it) at start-up; under a 1 GiB
    address-space limit, -m 1024 cannot have it, and it must say so and exit rather than abort.
    memcached allocates item memory as it goes, so only mnemod can be held to this."""
    if harness.sanitized():
        pytest.skip("a sanitizer's shadow memory alone needs more than 1 GiB of address space")

    def limit_address_space():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    try:
        proc = subprocess.run([harness.server_binary(), *loopback_flags(), "-m", "1024"],
                              capture_output=True, text=True, timeout=harness.TIMEOUT,
                              stdin=subprocess.DEVNULL, preexec_fn=limit_address_space)
    except subprocess.TimeoutExpired:
        pytest.fail("mnemod kept running without the address space for -m 1024", pytrace=False)
    assert proc.returncode != 0
    assert "cannot reserve" in proc.stderr and "for items" in proc.stderr, proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="only root must name a user with -u")
def test_root_without_dash_u_is_refused():
    rc, _, err = run("-l", harness.HOST, "-p", str(harness.free_port()), "-U", "0")
    assert rc != 0
    assert "-u" in err, err


def test_version_answers_the_memcached_release_bare(conn):
    """`version` and stats' version read "1.6.45" as memcached 1.6.45's do: clients parse them
    (Perl's Cache::Memcached::Fast dies on anything but a version number)."""
    assert conn.call(b"version\r\n") == b"VERSION 1.6.45\r\n"
    assert harness.stats(conn)["version"] == "1.6.45"


@pytest.mark.mnemo_only
def test_dash_capital_v_and_stats_name_mnemos_release_and_the_protocol_level(conn):
    rc, out, _ = run("-V")
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == 1, out
    mnemo_version = harness.stats(conn)["mnemo_version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", mnemo_version), mnemo_version
    assert lines[0] == "mnemod %s (memcached 1.6.45)" % mnemo_version
    rc, out, _ = run("-h")
    assert rc == 0
    assert out.splitlines()[0] == lines[0]


def test_dash_capital_v_prints_the_version_the_server_reports(conn):
    """memcached prints "memcached 1.6.45"; mnemod its own release, then the protocol level in
    parentheses. Either way, the version `version` answers is the last word without them."""
    rc, out, _ = run("-V")
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == 1, out
    assert conn.call(b"version\r\n") == b"VERSION %s\r\n" % lines[0].split()[-1].strip(")").encode()


def test_dash_h_lists_the_flags():
    rc, out, _ = run("-h")
    assert rc == 0
    for flag in ("-p", "-U", "-l", "-d", "-u", "-m", "-M", "-c", "-v", "-h", "-V", "-P", "-t",
                 "-I", "-A", "-o", "-b", "-B", "-C", "-R"):
        assert "\n%s," % flag in out or "\n%s " % flag in out, flag


def process_gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().split(")")[-1].split()[0] == "Z"  # exited, not yet reaped
    except FileNotFoundError:
        return True


def test_dash_d_daemonizes_and_dash_capital_p_records_its_pid(tmp_path):
    pidfile = tmp_path / "mnemod.pid"
    port = harness.free_port()
    rc, _, err = run("-d", "-P", str(pidfile), *harness.base_flags(port))
    assert rc == 0, err
    deadline = time.monotonic() + harness.TIMEOUT
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pidfile.exists(), "no pid file within %ss: %s" % (harness.TIMEOUT, err)
    pid = int(pidfile.read_text())
    try:
        assert harness.wait_listening(pid, port), "the daemon (pid %d) is not listening" % pid
        assert not (tmp_path / "mnemod.pid.tmp").exists(), "the temporary pid file was left behind"
        with harness.Conn(port) as c:
            c.expect(b"set k 0 0 1\r\nx\r\nget k\r\n", b"STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n")
        os.kill(pid, signal.SIGTERM)
        while not process_gone(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process_gone(pid), "the daemon ignored SIGTERM"
        assert not pidfile.exists(), "the daemon left its pid file behind"
    finally:
        if not process_gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_pid_file_that_cannot_be_written_is_reported_and_the_server_runs_on(start_server,
                                                                              tmp_path):
    # memcached's save_pid: the error names the temporary file; the server serves without it.
    pidfile = tmp_path / "no-such-directory" / "mnemod.pid"
    server = start_server("-P", str(pidfile))
    with server.connect() as c:
        c.expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
    assert "Could not open the pid file %s.tmp for writing" % pidfile in server.output()


def test_a_pid_file_naming_a_running_process_draws_a_warning_and_is_replaced(start_server,
                                                                            tmp_path):
    pidfile = tmp_path / "mnemod.pid"
    pidfile.write_text("%d\n" % os.getpid())  # this test's process: certainly running
    server = start_server("-P", str(pidfile))
    with server.connect() as c:  # served: the pid file was written before the server ran
        c.expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
    assert pidfile.read_text() == "%d\n" % server.pid
    assert ("WARNING: The pid file contained the following (running) pid: %d" % os.getpid()
            in server.output())


def test_a_pid_file_the_server_could_not_write_is_not_removed_at_exit(start_server, tmp_path):
    # Another instance's pid file, and a directory where the temporary file would go.
    pidfile = tmp_path / "mnemod.pid"
    pidfile.write_text("1\n")
    (tmp_path / "mnemod.pid.tmp").mkdir()
    server = start_server("-P", str(pidfile))
    with server.connect() as c:
        c.expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
    assert "Could not open the pid file %s.tmp for writing" % pidfile in server.output()
    assert server.stop() is None
    assert pidfile.read_text() == "1\n"
