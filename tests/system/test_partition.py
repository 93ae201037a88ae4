"""A host cut off by a real network partition (its agent in its own network namespace, joined to
the rest by a veth pair that the test takes down) is fenced and its VM restarted elsewhere; when
the partition heals, the host can no longer write to the volume — proven by the SAN's write count
— and is told to clean up."""
import json
import os
import subprocess
import time
import urllib.request

import pytest
from cs import CloudStack
from conftest import Lunar

ROOT_SIDE = "169.254.77.1"
HOST_SIDE = "169.254.77.2"


def sh(*command):
    subprocess.run(command, check=True, capture_output=True)


@pytest.fixture
def namespace():
    if os.geteuid() != 0 or subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("network namespaces are needed (root and iproute2)")
        pytest.skip("network namespaces are not available")
    tag = f"{os.getpid() % 100000}"
    name, outside, inside = f"lunar-part-{tag}", f"lpo{tag}", f"lpi{tag}"
    sh("ip", "netns", "add", name)
    try:
        sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        sh("ip", "link", "set", inside, "netns", name)
        sh("ip", "addr", "add", f"{ROOT_SIDE}/30", "dev", outside)
        sh("ip", "link", "set", outside, "up")
        sh("ip", "netns", "exec", name, "ip", "addr", "add", f"{HOST_SIDE}/30", "dev", inside)
        sh("ip", "netns", "exec", name, "ip", "link", "set", inside, "up")
        sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name, outside
    finally:
        subprocess.run(["ip", "link", "del", outside], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def wait_for(predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_partitioned_host_is_fenced_and_cannot_write_after(namespace, data_dir):
    netns, outside = namespace
    config = data_dir.parent / "partition.json"
    config.write_text(json.dumps({"agent_timeout_scale": 0.05, "agent_heartbeat_ms": 200, "missed_heartbeats": 5}))
    lunar = Lunar(data_dir, args=["--hosts", "0", "--config", str(config), "--bind", ROOT_SIDE, "--portal", f"{ROOT_SIDE}:0", "--log-level", os.environ.get("LUNAR_LOG_LEVEL", "info")], bare=False)
    agents = []
    try:
        cs = CloudStack(endpoint=lunar.api, key=lunar.keys["apikey"], secret=lunar.keys["secretkey"])
        log1 = open(data_dir.parent / "agent-host1.log", "ab")
        agents.append(subprocess.Popen(["ip", "netns", "exec", netns, lunar.binary, "agent", "--data", str(data_dir), "--name", "host1", "--address", HOST_SIDE,
                                        # Hold the server's clean-up a while, so the VM left on host1 retries its writes after the heal.
                                        "--fault", "CleanUp=delay:4000"],
                                       stdout=log1, stderr=log1))
        log2 = open(data_dir.parent / "agent-host2.log", "ab")
        agents.append(subprocess.Popen([lunar.binary, "agent", "--data", str(data_dir), "--name", "host2"], stdout=log2, stderr=log2))
        hosts = wait_for(lambda: {h["name"]: h for h in cs.listHosts().get("host", []) if h["state"] == "Up"} if
                         len([h for h in cs.listHosts().get("host", []) if h["state"] == "Up"]) == 2 else None, what="two hosts Up")
        assert hosts["host1"]["ipaddress"] == HOST_SIDE
        zone = cs.listZones()["zone"][0]
        offering = next(o for o in cs.listServiceOfferings()["serviceoffering"] if o["name"] == "small")
        template = cs.listTemplates(templatefilter="featured")["template"][0]
        vm = cs.deployVirtualMachine(zoneid=zone["id"], serviceofferingid=offering["id"], templateid=template["id"], hostid=hosts["host1"]["id"],
                                     workload="journal", fetch_result=True)["virtualmachine"]
        root = cs.listVolumes(virtualmachineid=vm["id"])["volume"][0]
        san_name = root["path"].strip("/").rsplit("/", 1)[0].split(":", 1)[1]

        def writes():
            return json.loads(lunar.cli("san", "volume", "stats", san_name, "--json").stdout)["totals"]["writes"]

        wait_for(lambda: writes() > 50, what="the VM on host1 writing through its namespace")

        # The partition: host1 can reach neither the server nor the SAN.
        sh("ip", "link", "set", outside, "down")
        moved = wait_for(lambda: next((v for v in cs.listVirtualMachines(id=vm["id"])["virtualmachine"] if v["state"] == "Running" and v["hostname"] == "host2"), None),
                         what="the VM restarted on host2")
        assert cs.listHosts(id=hosts["host1"]["id"])["host"][0]["state"] == "Down"
        assert hosts["host1"]["initiatoriqn"] not in json.loads(lunar.cli("san", "volume", "show", san_name, "--json").stdout)["allowed_initiators"]
        # Stop the legitimate writer, so any write that lands from now on would be host1's.
        cs.stopVirtualMachine(id=moved["id"], fetch_result=True)
        before = writes()

        # The partition heals: host1's VM (still running there, still retrying) must not write.
        sh("ip", "link", "set", outside, "up")
        wait_for(lambda: cs.listHosts(id=hosts["host1"]["id"])["host"][0]["state"] == "Up", what="host1 heard again")
        wait_for(lambda: cs.checkAccessInvariant()["invariant"]["ok"], what="host1 cleaned up")
        time.sleep(3)
        assert writes() == before, "a fenced host wrote to the volume"
        log1.flush()
        agent_log = (data_dir.parent / "agent-host1.log").read_text(errors="replace")
        assert "authorization failure" in agent_log, agent_log[-3000:]
        token = (data_dir / "san-admin-token").read_text().strip()
        request = urllib.request.Request(f"{lunar.endpoints['san_admin']}/v1/initiators/{hosts['host1']['initiatoriqn']}/activity",
                                         headers={"Authorization": f"Bearer {token}"})
        assert json.loads(urllib.request.urlopen(request, timeout=10).read())["sessions"] == 0
    finally:
        for agent in agents:
            if agent.poll() is None:
                agent.terminate()
                agent.wait(timeout=30)
        code = lunar.stop()
        if os.environ.get("LUNAR_KEEP_LOGS"):
            subprocess.run(f"cp {data_dir.parent}/*.log {os.environ['LUNAR_KEEP_LOGS']}/", shell=True)
        assert code == 0
