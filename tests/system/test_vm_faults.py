"""Failure injection at the steps of the VM flows, over real processes: `lunar up` (server and SAN)
with agents started apart so each can be given faults (`lunar agent --fault`) or be killed; the
server itself killed with SIGKILL mid-job. After each, the system must settle with DESIGN.md's
invariant held and no volume left in a transitional state."""
import json
import os
import signal
import subprocess
import time

import pytest
from cs import CloudStack
from conftest import Lunar


class Agents:
    def __init__(self, lunar):
        self.lunar = lunar
        self.processes = {}

    def start(self, name, *faults):
        log = open(self.lunar.data.parent / f"agent-{name}.log", "ab")
        command = [self.lunar.binary, "agent", "--data", str(self.lunar.data), "--name", name]
        for fault in faults:
            command += ["--fault", fault]
        self.processes[name] = subprocess.Popen(command, stdout=log, stderr=log)

    def kill(self, name):
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait(timeout=10)

    def stop_all(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)


def free_ports(count):
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def start_lunar(data, ports=None, san_config=None):
    config = data.parent / "faults.json"
    # Short agent timeouts and heartbeats, so lost answers and dead hosts show within seconds.
    config.write_text(json.dumps({"agent_timeout_scale": 0.02, "agent_heartbeat_ms": 200, "missed_heartbeats": 5}))
    # Fixed ports (free ones) so a restart keeps the portal and admin URL the pool and agents know.
    api, portal, admin = ports or free_ports(3)
    args = ["--hosts", "0", "--config", str(config), "--port", str(api), "--portal", f"127.0.0.1:{portal}", "--admin-port", str(admin)]
    if san_config:
        path = data.parent / "san.json"
        path.write_text(json.dumps(san_config))
        args += ["--san-config", str(path)]
    lunar = Lunar(data, args=args, bare=False)
    lunar.ports = (api, portal, admin)
    lunar.cs = CloudStack(endpoint=lunar.api, key=lunar.keys["apikey"], secret=lunar.keys["secretkey"])
    return lunar


@pytest.fixture
def rig(data_dir):
    lunar = start_lunar(data_dir)
    agents = Agents(lunar)
    yield lunar, agents
    agents.stop_all()
    lunar.stop()
    if os.environ.get("LUNAR_KEEP_LOGS"):
        subprocess.run(f"cp {data_dir.parent}/*.log {os.environ['LUNAR_KEEP_LOGS']}/", shell=True)


def wait_for(predicate, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as error:  # the server may be restarting
            last = error
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {last}")


def hosts_up(lunar, count):
    return wait_for(lambda: {h["name"]: h for h in lunar.cs.listHosts().get("host", []) if h["state"] == "Up"} if
                    len([h for h in lunar.cs.listHosts().get("host", []) if h["state"] == "Up"]) >= count else None, what=f"{count} hosts Up")


def settled(lunar):
    """The invariant holds and nothing is half-way."""
    def check():
        vms = lunar.cs.listVirtualMachines(listall=True).get("virtualmachine", [])
        volumes = lunar.cs.listVolumes(listall=True).get("volume", [])
        invariant = lunar.cs.checkAccessInvariant()["invariant"]
        return (invariant["ok"] and all(v["state"] in ("Running", "Stopped") for v in vms)
                and all(v["state"] in ("Allocated", "Ready") for v in volumes)) and (vms, volumes)
    return wait_for(check, timeout=30, what="the invariant with every VM and volume settled")


def deploy(lunar, host, **extra):
    zone = lunar.cs.listZones()["zone"][0]
    offering = next(o for o in lunar.cs.listServiceOfferings()["serviceoffering"] if o["name"] == "small")
    template = lunar.cs.listTemplates(templatefilter="featured")["template"][0]
    return lunar.cs.deployVirtualMachine(zoneid=zone["id"], serviceofferingid=offering["id"], templateid=template["id"], hostid=host["id"], **extra)


def test_a_lost_start_answer_is_rolled_back_and_cleaned_up(rig):
    lunar, agents = rig
    agents.start("host1", "StartVM=lose-answer")
    hosts = hosts_up(lunar, 1)
    job = deploy(lunar, hosts["host1"])
    with pytest.raises(Exception) as failed:
        lunar.cs._jobresult(job["jobid"])
    assert "did not answer StartVM" in str(failed.value)
    vms, _ = settled(lunar)
    assert [v["state"] for v in vms] == ["Stopped"]
    # The fault was for the first StartVM only: the next start works.
    started = lunar.cs.startVirtualMachine(id=vms[0]["id"], fetch_result=True)["virtualmachine"]
    assert started["state"] == "Running" and started["hostname"] == "host1"
    settled(lunar)


def test_a_refused_prepare_leaves_the_vm_on_its_source(rig):
    lunar, agents = rig
    agents.start("host1")
    agents.start("host2", "PrepareForMigration=refuse")
    hosts = hosts_up(lunar, 2)
    vm = lunar.cs._jobresult(deploy(lunar, hosts["host1"], workload="journal")["jobid"])["virtualmachine"]
    with pytest.raises(Exception) as failed:
        lunar.cs.migrateVirtualMachine(virtualmachineid=vm["id"], hostid=hosts["host2"]["id"], fetch_result=True)
    assert "PrepareForMigration failed" in str(failed.value)
    vms, _ = settled(lunar)
    assert vms[0]["hostname"] == "host1" and vms[0]["state"] == "Running"


def test_an_agent_killed_mid_start_leaves_nothing_behind(rig):
    lunar, agents = rig
    agents.start("host1", "StartVM=delay:4000")
    agents.start("host2")
    hosts = hosts_up(lunar, 2)
    job = deploy(lunar, hosts["host1"])
    time.sleep(1.5)
    agents.kill("host1")
    with pytest.raises(Exception):
        lunar.cs._jobresult(job["jobid"])
    wait_for(lambda: lunar.cs.listHosts(id=hosts["host1"]["id"])["host"][0]["state"] == "Down", what="host1 fenced")
    vms, _ = settled(lunar)
    assert vms[0]["state"] == "Stopped"


def kill_and_restart(lunar, data_dir, hosts):
    """SIGKILLs `lunar up` (server and SAN) and starts it again on the same folder and ports; the
    agents reconnect by themselves."""
    time.sleep(1.0)
    lunar.process.send_signal(signal.SIGKILL)
    lunar.process.wait(timeout=10)
    lunar.log.close()
    restarted = start_lunar(data_dir, lunar.ports)
    hosts_up(restarted, hosts)
    return restarted


def job_end(lunar, job):
    """The job's final result, once the restarted server has resumed (or failed) it."""
    return wait_for(lambda: lunar.cs.queryAsyncJobResult(jobid=job["jobid"]).get("jobstatus") != 0 and
                    lunar.cs.queryAsyncJobResult(jobid=job["jobid"]), what="the interrupted job to end")


def test_a_server_killed_mid_migration_resumes_or_rolls_back(rig, data_dir):
    lunar, agents = rig
    agents.start("host1", "MigrateVM=delay:5000")
    agents.start("host2")
    hosts = hosts_up(lunar, 2)
    vm = lunar.cs._jobresult(deploy(lunar, hosts["host1"], workload="journal")["jobid"])["virtualmachine"]
    job = lunar.cs.migrateVirtualMachine(virtualmachineid=vm["id"], hostid=hosts["host2"]["id"])
    wait_for(lambda: lunar.cs.listVirtualMachines(id=vm["id"])["virtualmachine"][0]["state"] == "Migrating", what="the migration to start")
    restarted = kill_and_restart(lunar, data_dir, 2)
    try:
        # The interrupted job is resumed and settles the VM.
        result = job_end(restarted, job)
        assert result["jobstatus"] == 1, result.get("jobresult")
        vms, _ = settled(restarted)
        assert vms[0]["state"] == "Running" and vms[0]["hostname"] in ("host1", "host2")
    finally:
        assert restarted.stop() == 0


def test_a_server_killed_mid_attach_undoes_the_attach(rig, data_dir):
    lunar, agents = rig
    agents.start("host1", "AttachVolume=delay:4000")
    hosts = hosts_up(lunar, 1)
    vm = lunar.cs._jobresult(deploy(lunar, hosts["host1"])["jobid"])["virtualmachine"]
    zone = lunar.cs.listZones()["zone"][0]
    disk = next(o for o in lunar.cs.listDiskOfferings()["diskoffering"] if o["name"] == "iops-500")
    volume = lunar.cs.createVolume(name="d1", zoneid=zone["id"], diskofferingid=disk["id"], fetch_result=True)["volume"]
    job = lunar.cs.attachVolume(id=volume["id"], virtualmachineid=vm["id"])
    # Granted and placed, the host is holding AttachVolume: kill the server there.
    wait_for(lambda: lunar.cs.listVolumes(id=volume["id"])["volume"][0]["state"] == "Ready", what="the volume placed")
    restarted = kill_and_restart(lunar, data_dir, 1)
    try:
        result = job_end(restarted, job)
        assert result["jobstatus"] == 2 and "undone" in result["jobresult"]["errortext"], result
        settled(restarted)
        assert "virtualmachineid" not in restarted.cs.listVolumes(id=volume["id"])["volume"][0]
    finally:
        assert restarted.stop() == 0


def test_a_san_refusal_rolls_the_start_back(data_dir):
    # The SAN takes two volumes at most: the second VM's data disk is refused at creation.
    lunar = start_lunar(data_dir, san_config={"maximum_volumes": 2})
    agents = Agents(lunar)
    try:
        agents.start("host1")
        hosts = hosts_up(lunar, 1)
        lunar.cs._jobresult(deploy(lunar, hosts["host1"])["jobid"])
        disk = next(o for o in lunar.cs.listDiskOfferings()["diskoffering"] if o["name"] == "iops-500")
        job = deploy(lunar, hosts["host1"], diskofferingid=disk["id"])
        with pytest.raises(Exception) as refused:
            lunar.cs._jobresult(job["jobid"])
        assert "SAN" in str(refused.value) or "volume" in str(refused.value)
        vms, volumes = settled(lunar)
        assert sorted(v["state"] for v in vms) == ["Running", "Stopped"]
        states = sorted(v["state"] for v in volumes)
        assert states == ["Allocated", "Ready", "Ready"], states
    finally:
        agents.stop_all()
        assert lunar.stop() == 0
