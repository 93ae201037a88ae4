"""Whole-system tests: real `lunar` processes on 127.0.0.1, driven by real clients."""
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def lunar_binary() -> str:
    path = os.environ.get("LUNAR_BIN") or str(ROOT / ".build" / "debug" / "lunar")
    if not os.access(path, os.X_OK):
        pytest.fail(f"the lunar binary is missing at {path}: run `swift build` first (or set LUNAR_BIN)")
    return path


class Lunar:
    """A running `lunar up` (or `lunar server`) with its data folder."""

    def __init__(self, data: Path, args=None, role="up", bare=True):
        self.data = data
        self.binary = lunar_binary()
        self.log = open(data.parent / f"{data.name}-{role}.log", "ab")
        command = [self.binary, role, "--data", str(data), "--port", "0"]
        if role == "up":
            # The SAN node's ports too: tests never assume a fixed port.
            command += ["--portal", "127.0.0.1:0", "--admin-port", "0"]
            if bare:
                command += ["--bare"]
        command += args or []  # last, so a test's own ports win
        endpoints = data / "endpoints.json"
        if endpoints.exists():
            endpoints.unlink()  # so we wait for this run's port, not a previous one's
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"lunar exited early with {self.process.returncode}; see {self.log.name}")
            if endpoints.exists():
                try:
                    self.endpoints = json.loads(endpoints.read_text())
                    if self.endpoints.get("api") and (role != "up" or self.endpoints.get("san_admin")):
                        break
                except json.JSONDecodeError:
                    pass
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError("lunar did not write endpoints.json within 60 s")
        self.keys = json.loads((data / "admin-keys.json").read_text())

    @property
    def api(self) -> str:
        return self.endpoints["api"]

    def cli(self, *args, check=True, timeout=60):
        """Runs a `lunar` client command against this instance."""
        result = subprocess.run(
            [self.binary, *args, "--data", str(self.data)], capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"lunar {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def stop(self, timeout=30) -> int:
        """SIGTERM, then wait (bounded); returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # Say where it hangs before killing it.
                if os.path.exists("/usr/bin/gdb"):
                    dump = subprocess.run(["gdb", "-p", str(self.process.pid), "-batch", "-ex", "thread apply all bt 12"], capture_output=True, text=True, timeout=60)
                    self.log.write(dump.stdout.encode()[-60000:])
                self.process.kill()
                self.process.wait(timeout=10)
                raise AssertionError("lunar did not stop within 30 s of SIGTERM")
        self.log.close()
        return self.process.returncode


@pytest.fixture
def data_dir():
    # LUNAR_KEEP_DATA=1 keeps the folder (logs of every role beside it) for a post-mortem.
    if os.environ.get("LUNAR_KEEP_DATA"):
        directory = tempfile.mkdtemp(prefix="lunar-system-")
        print(f"data kept in {directory}")
        yield Path(directory) / "data"
        return
    with tempfile.TemporaryDirectory(prefix="lunar-system-") as directory:
        yield Path(directory) / "data"


@pytest.fixture
def lunar(data_dir):
    instance = Lunar(data_dir)
    yield instance
    assert instance.stop() == 0, "lunar should exit 0 on SIGTERM"


@pytest.fixture
def cs_client(lunar):
    from cs import CloudStack

    return CloudStack(endpoint=lunar.api, key=lunar.keys["apikey"], secret=lunar.keys["secretkey"])


class Cloud(Lunar):
    """`lunar up` as a newcomer runs it: seeded, with its simulated hosts' agents registered."""

    def __init__(self, data: Path, hosts=2, args=None, ready_timeout=60):
        super().__init__(data, args=["--hosts", str(hosts)] + (args or []), bare=False)
        from cs import CloudStack

        self.cs = CloudStack(endpoint=self.api, key=self.keys["apikey"], secret=self.keys["secretkey"])
        # With --hypervisor qemu the hosts start once the guest template is ready (on a fresh
        # machine that includes building the image: installing packages, fetching a kernel).
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            self.endpoints = json.loads((data / "endpoints.json").read_text())
            listed = self.cs.listHosts().get("host", []) if self.endpoints.get("agents") is not None else []
            if len([h for h in listed if h["state"] == "Up"]) >= hosts:
                break
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"{hosts} hosts did not come Up within {ready_timeout} s")

    def invariant(self):
        """DESIGN.md's invariant, checked by the server against the SAN and the agents."""
        result = self.cs.checkAccessInvariant()["invariant"]
        assert result["ok"], result["violations"]

    def agent_pid(self, host_name):
        return next(agent["pid"] for agent in self.endpoints["agents"] if agent["host"] == host_name)


@pytest.fixture
def cloud(data_dir):
    instance = Cloud(data_dir)
    yield instance
    assert instance.stop() == 0, "lunar should exit 0 on SIGTERM"
