"""The Debian package (debian/): it installs, its service runs and answers, stops, and a purge
leaves nothing behind.

Run by scripts/test.sh's "debian package" stage, as root, with $MNEMO_DEB naming the .deb that
scripts/build-deb.sh built; skipped otherwise. It installs the package on the machine (apt-get
install ./mnemo_*.deb) and purges it at the end, passed or failed, so it belongs on a machine
where that is wanted, such as CI's fresh one; where mnemo is installed already it fails without
touching it.

The packaged service listens on 127.0.0.1:11211. This test never uses 11211: on a shared machine
another server (a memcached, another test's server) may hold it. It changes /etc/mnemo.conf's port
to a free one it picks on 127.0.0.1 before it starts the service. Without systemd as PID 1 (a
container, as in CI), starting the service means running the installed unit's ExecStart= as its
User= and Group=, and stopping it means sending its KillSignal=, as systemd does; with systemd,
systemctl does both, and the install runs under a policy-rc.d that keeps the package from starting
the service on 11211 first.
"""

import grp
import os
import pwd
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import harness

DEB = os.environ.get("MNEMO_DEB", "")
pytestmark = [
    pytest.mark.skipif(not DEB, reason="$MNEMO_DEB names no .deb to install "
                                       "(scripts/test.sh's debian package stage sets it)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="installs a package: needs root"),
]

CONF = Path("/etc/mnemo.conf")
UNIT = Path("/lib/systemd/system/mnemo.service")
LOG_DIR = Path("/var/log/mnemo")
LOGROTATE = Path("/etc/logrotate.d/mnemo")
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
SHIPPED = [Path(p) for p in (
    "/usr/bin/mnemod", "/usr/bin/mnemo-bench", "/usr/bin/mnemo-ring", "/usr/bin/mnemo-cluster",
    "/usr/share/mnemo/scripts/mnemo-wrapper", "/usr/share/man/man1/mnemod.1.gz",
    "/usr/share/doc/mnemo/copyright")] + [CONF, UNIT, LOGROTATE]
# Directories only the package has.
OWN_DIRS = [Path("/usr/share/mnemo"), Path("/usr/share/doc/mnemo"), LOG_DIR]
SYSTEMD = Path("/run/systemd/system").is_dir()
APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def run(*argv, **kwargs):
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=300, **kwargs)


def package_state():
    """dpkg's status of mnemo ("ii": installed, "rc": removed with its config), or "" if dpkg
    knows no such package (never installed, or purged)."""
    query = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", "mnemo"],
                           capture_output=True, text=True)
    return query.stdout.strip() if query.returncode == 0 else ""


def unit_service_settings():
    """The [Service] section of the installed unit as a dict (a key given twice: the last)."""
    settings = {}
    section = None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def configure_port(port):
    """Points /etc/mnemo.conf's -p at `port` and turns on -vv (each command is logged, so that
    the log file shows what mnemod wrote where)."""
    text = CONF.read_text()
    text, count = re.subn(r"(?m)^-p 11211$", "-p %d" % port, text)
    assert count == 1, "/etc/mnemo.conf has no line '-p 11211':\n" + text
    CONF.write_text(text + "-vv\n")


def set_and_get(port, key):
    with harness.Conn(port) as conn:
        conn.expect(b"set %s 7 0 5\r\nhello\r\n" % key, b"STORED\r\n")
        conn.expect(b"get %s\r\n" % key, b"VALUE %s 7 5\r\nhello\r\nEND\r\n" % key)


class ServiceWithoutSystemd:
    """The unit's ExecStart= run as its User= and Group=, stopped with its KillSignal=."""

    def __init__(self, output_path):
        self.settings = {}
        self.output_path = output_path
        self.proc = None

    def start(self):
        self.settings = unit_service_settings()
        argv = shlex.split(self.settings["ExecStart"])
        assert argv[0].startswith("/"), "ExecStart= with a prefix this test does not run: %s" % argv
        user = self.settings["User"]
        with open(self.output_path, "wb") as output:
            self.proc = subprocess.Popen(
                argv, user=user, group=self.settings.get("Group", user), extra_groups=[],
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}, cwd="/",
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def output(self):
        return self.output_path.read_text(errors="replace")

    def stop(self):
        """Sends the unit's stop signal; the exit status."""
        name = self.settings.get("KillSignal", "SIGTERM")
        self.proc.send_signal(signal.Signals[name if name.startswith("SIG") else "SIG" + name])
        return self.proc.wait(timeout=harness.TIMEOUT)

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()


class ServiceWithSystemd:
    def start(self):
        run("systemctl", "start", "mnemo")
        return int(run("systemctl", "show", "-p", "MainPID", "--value", "mnemo").stdout)

    def alive(self):
        return subprocess.run(["systemctl", "is-active", "--quiet", "mnemo"]).returncode == 0

    def stop(self):
        run("systemctl", "stop", "mnemo")
        return int(run("systemctl", "show", "-p", "ExecMainStatus", "--value", "mnemo").stdout)

    def kill(self):
        subprocess.run(["systemctl", "stop", "mnemo"], capture_output=True)

    def output(self):
        return subprocess.run(["journalctl", "-u", "mnemo", "-n", "50", "--no-pager"],
                              capture_output=True, text=True).stdout


def install(deb):
    """apt-get install of the .deb (its dependencies from the archive). Under systemd, a
    policy-rc.d keeps the package from starting the service on 11211 during the install."""
    made_policy = False
    if SYSTEMD and not POLICY_RC_D.exists():
        POLICY_RC_D.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
        made_policy = True
    try:
        run("apt-get", "install", "-y", "-q", "--no-install-recommends", str(deb), env=APT_ENV)
    finally:
        if made_policy:
            POLICY_RC_D.unlink()


def check_installed():
    assert package_state() == "ii"
    for path in SHIPPED:
        assert path.exists(), "the package did not install %s" % path
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "mnemo").stdout
    for path in (CONF, LOGROTATE):
        assert " %s " % path in conffiles, "%s is not a conffile: %r" % (path, conffiles)
    # One version: the package's is mnemod's own (src/server/version.h).
    version = run("dpkg-query", "-W", "-f=${Version}", "mnemo").stdout
    assert run("/usr/bin/mnemod", "-V").stdout.startswith("mnemod %s " % version)

    user = pwd.getpwnam("mnemo")
    assert user.pw_uid < 1000 and user.pw_shell in ("/usr/sbin/nologin", "/bin/false")
    assert user.pw_dir == "/nonexistent"
    assert grp.getgrgid(user.pw_gid).gr_name == "mnemo"
    log_dir = LOG_DIR.stat()
    assert (log_dir.st_uid, log_dir.st_gid, log_dir.st_mode & 0o777) == (
        user.pw_uid, user.pw_gid, 0o750)

    # man finds the page, and it describes every long flag that mnemod -h lists.
    assert run("man", "-w", "mnemod").stdout.strip() == "/usr/share/man/man1/mnemod.1.gz"
    page = run("man", "mnemod", env=dict(os.environ, MANWIDTH="200")).stdout
    assert "mnemod - a memcached-compatible in-memory cache server" in page
    flags = re.findall(r"--[a-z-]+", run("/usr/bin/mnemod", "-h").stdout)
    assert len(flags) > 30
    missing = [flag for flag in flags if flag not in page]
    assert not missing, "man mnemod lacks %s" % missing

    # It exits 0 on unknown keys too, and says so.
    verify = run("systemd-analyze", "verify", str(UNIT))
    assert verify.stdout + verify.stderr == ""


def check_wrapper_refuses(tmp_path):
    """A configuration line that is no flag stops the wrapper before mnemod starts, naming it."""
    conf = tmp_path / "bad.conf"
    conf.write_text("# a comment\n-m 64\nport 11211\n")
    wrapper = shlex.split(unit_service_settings()["ExecStart"])[0]
    refused = subprocess.run([wrapper, str(conf)], capture_output=True, text=True, timeout=10)
    assert (refused.returncode, refused.stdout, refused.stderr) == (
        78, "", "mnemo-wrapper: %s:3: not a flag: port 11211\n" % conf)


def check_log_rotation(port, log, state):
    """logrotate's rule for the log moves what mnemod wrote so far aside, and mnemod goes on
    writing at the start of the emptied file (it appends: no hole of NULs). `state`: a file for
    logrotate's state, not the system's."""
    assert b"get before-rotation" in log.read_bytes()
    run("logrotate", "--force", "--state", str(state), str(LOGROTATE))
    assert b"get before-rotation" in (LOG_DIR / "mnemo.log.1").read_bytes()
    set_and_get(port, b"after-rotation")
    rotated = log.read_bytes()
    assert b"get after-rotation" in rotated and b"before-rotation" not in rotated
    assert not rotated.startswith(b"\0"), "mnemod does not append to its log: %r" % rotated[:60]


def check_purged(files):
    assert package_state() == ""
    left = [path for path in files + [CONF, LOGROTATE] + OWN_DIRS if path.exists()]
    assert not left, "the purge left %s" % left
    for lookup in (pwd.getpwnam, grp.getgrnam):
        with pytest.raises(KeyError):
            lookup("mnemo")


def test_install_run_stop_purge(tmp_path):
    deb = Path(DEB).resolve()
    assert package_state() == "", "mnemo is installed on this machine already; not touching it"
    service = ServiceWithSystemd() if SYSTEMD else ServiceWithoutSystemd(tmp_path / "output")
    try:
        install(deb)
        check_installed()
        check_wrapper_refuses(tmp_path)
        files = [Path(line) for line in run("dpkg", "-L", "mnemo").stdout.splitlines()
                 if Path(line).is_file()]

        port = harness.free_port()
        configure_port(port)
        pid = service.start()
        assert harness.wait_listening(pid, port, alive=service.alive), (
            "the service does not listen on %s:%d; its output:\n%s"
            % (harness.HOST, port, service.output()))
        # The wrapper made way for mnemod (exec), which runs as the unit's user.
        assert os.readlink("/proc/%d/exe" % pid) == "/usr/bin/mnemod"
        status = Path("/proc/%d/status" % pid).read_text()
        uids = re.search(r"(?m)^Uid:\s+(.*)$", status).group(1).split()
        assert set(uids) == {str(pwd.getpwnam("mnemo").pw_uid)}
        set_and_get(port, b"before-rotation")
        check_log_rotation(port, LOG_DIR / "mnemo.log", tmp_path / "logrotate.state")

        assert service.stop() == 0
        assert not service.alive()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((harness.HOST, port), timeout=harness.TIMEOUT).close()

        run("dpkg", "--purge", "mnemo")
        check_purged(files)
    finally:
        service.kill()
        if package_state():
            subprocess.run(["dpkg", "--purge", "mnemo"], capture_output=True)
