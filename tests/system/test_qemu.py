"""Real guests on `lunar up --hypervisor qemu`: the test guest boots from a template copied on the
SAN, journals numbered O_DIRECT+fsync writes on its data disk, and the tests read its serial
console to prove what the flows promise: hot-plug seen by the guest, live migration with no gap
and no reboot, a killed agent changing nothing, and HA after a host crash with every
acknowledged write on the disk where the guest comes back."""
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Cloud
from test_partition import namespace  # noqa: F401 (a fixture)
from test_vms import iops, offering, san, san_name, wait_for

pytestmark = pytest.mark.skipif(
    not shutil.which("qemu-system-x86_64") and os.environ.get("CI") != "true", reason="needs qemu-system-x86_64 (CI=true makes this a failure)"
)

JOURNAL = re.compile(r"lunar-journal: (\w+) acked=(\d+) last=([\d,-]+)")
START = re.compile(r"lunar-journal: (\w+) start lanes=\d+ blocks=\d+ found=([\d,-]+)")
READY = re.compile(r"lunar-guest: ready boot=(\S+)")


@pytest.fixture
def qemu_cloud(data_dir):
    instance = Cloud(data_dir, args=["--hypervisor", "qemu"], ready_timeout=900)
    yield instance
    assert instance.stop(timeout=60) == 0, "lunar should exit 0 on SIGTERM"
    left = [p for p in (data_dir / "agents").glob("*/vm/*/qemu.pid") if alive(int(p.read_text()))]
    assert not left, f"lunar up stops its guests when it exits: {left}"


class Seen:
    """What the helpers read of a Lunar started by hand: its data folder and a cs client."""

    def __init__(self, data, cs=None):
        self.data, self.cs = data, cs


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def console(cloud, vm_id):
    path = cloud.data / "consoles" / f"{vm_id}.log"
    return path.read_text(errors="replace").replace("\r", "") if path.exists() else ""


def journal(cloud, vm_id, disk="vdb"):
    """The last journal line of `disk`: (acked, [last per lane])."""
    lines = [m for m in JOURNAL.finditer(console(cloud, vm_id)) if m.group(1) == disk]
    if not lines:
        return None
    last = lines[-1]
    return int(last.group(2)), [int(x) for x in last.group(3).split(",")]


def boots(cloud, vm_id):
    return READY.findall(console(cloud, vm_id))


def journal_advances(cloud, vm_id, beyond, disk="vdb", timeout=90):
    """Waits for every lane to pass `beyond`, the lanes last seen."""
    def advanced():
        now = journal(cloud, vm_id, disk)
        return now if now and all(a > b for a, b in zip(now[1], beyond)) else None
    return wait_for(advanced, timeout=timeout, interval=0.5, what=f"the journal on {disk} to go on past {beyond}")


def guest_template(cloud):
    return next(t for t in cloud.cs.listTemplates(templatefilter="featured")["template"] if t["name"] == "lunar-guest")


def deploy(cloud, host, **extra):
    zone = cloud.cs.listZones()["zone"][0]
    return cloud.cs.deployVirtualMachine(
        zoneid=zone["id"], serviceofferingid=offering(cloud, "service", "small")["id"], templateid=guest_template(cloud)["id"],
        hostid=host["id"], fetch_result=True, **extra
    )["virtualmachine"]


def hosts(cloud):
    return {h["name"]: h for h in cloud.cs.listHosts()["host"]}


def qemu_pids(cloud, host_name):
    return [int(p.read_text()) for p in (cloud.data / "agents" / host_name / "vm").glob("*/qemu.pid") if alive(int(p.read_text()))]


def test_done_when_a_real_guest_boots_from_the_template_runs_at_the_offerings_iops_migrates_and_survives_its_host(qemu_cloud):
    cloud = qemu_cloud
    listed = hosts(cloud)
    assert {h["hypervisor"] for h in listed.values()} == {"KVM"} and {h["accel"] for h in listed.values()} <= {"kvm", "tcg"}
    template = guest_template(cloud)
    assert template["isready"] is True and template["hypervisor"] == "KVM", template

    vm = deploy(cloud, listed["host1"], diskofferingid=offering(cloud, "disk", "iops-500")["id"])
    assert vm["state"] == "Running" and vm["hostname"] == "host1" and vm["hypervisor"] == "KVM"
    wait_for(lambda: boots(cloud, vm["id"]), timeout=120, interval=0.5, what="lunar-guest: ready on the console")
    first = wait_for(lambda: journal(cloud, vm["id"]), timeout=60, interval=0.5, what="the journal on the data disk")
    cloud.invariant()

    # The offering's maximum, held at the SAN while the guest writes as fast as it can.
    volumes = {v["type"]: v for v in cloud.cs.listVolumes(virtualmachineid=vm["id"])["volume"]}
    data = volumes["DATADISK"]
    assert data["qosenforcedby"] == "storage" and data["miniopsguaranteed"] is True
    measured = iops(cloud, data, 5.0)
    assert measured <= 500 * 1.5 * 1.05, f"{measured} IOPS at the SAN, over the burst cap"
    # The guest (TCG on two busy cores) reaches the cap; a floor so a stalled journal fails.
    assert measured >= 150, f"only {measured} IOPS at the SAN"

    # Live migration with the journal running: every lane goes on, no reboot.
    before = journal(cloud, vm["id"])
    moved = cloud.cs.migrateVirtualMachine(virtualmachineid=vm["id"], hostid=listed["host2"]["id"], fetch_result=True)["virtualmachine"]
    assert moved["hostname"] == "host2" and moved["state"] == "Running"
    after = journal_advances(cloud, vm["id"], before[1])
    assert len(boots(cloud, vm["id"])) == 1, "a live migration never reboots the guest"
    assert not qemu_pids(cloud, "host1") and len(qemu_pids(cloud, "host2")) == 1, "the source's QEMU is gone"
    cloud.invariant()

    # And back, so the crash below takes the guest's host.
    back = cloud.cs.migrateVirtualMachine(virtualmachineid=vm["id"], hostid=listed["host1"]["id"], fetch_result=True)["virtualmachine"]
    assert back["hostname"] == "host1"
    journal_advances(cloud, vm["id"], after[1])
    assert len(boots(cloud, vm["id"])) == 1

    # host1 crashes: its agent and its QEMUs are killed together. HA fences it at the SAN and
    # restarts the guest on host2 from the same disks, with every acknowledged write there.
    victims = qemu_pids(cloud, "host1")
    assert len(victims) == 1
    os.kill(cloud.agent_pid("host1"), signal.SIGKILL)
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    acknowledged = journal(cloud, vm["id"])[1]  # the console can only lag what was acknowledged
    crashed = time.monotonic()
    restarted = wait_for(
        lambda: next((v for v in cloud.cs.listVirtualMachines(id=vm["id"])["virtualmachine"] if v["state"] == "Running" and v["hostname"] == "host2"), None),
        timeout=120, what="HA to restart the guest on host2",
    )
    wait_for(lambda: len(boots(cloud, vm["id"])) == 2, timeout=120, interval=0.5, what="the guest to boot again on host2")
    # The journal's first line after the boot says what it found on the disk.
    starts = wait_for(
        lambda: (lambda found: found if len(found) == 2 else None)([m for m in START.finditer(console(cloud, vm["id"])) if m.group(1) == "vdb"]),
        timeout=60, interval=0.5, what="the journal to start again",
    )
    found = [int(x) for x in starts[-1].group(2).split(",")]
    assert all(f >= a for f, a in zip(found, acknowledged)), f"every acknowledged write is on the disk: found {found}, acknowledged {acknowledged}"
    journal_advances(cloud, vm["id"], found)
    print(f"HA: crash to guest ready elsewhere in {time.monotonic() - crashed:.1f} s")
    dead = cloud.cs.listHosts(name="host1")["host"][0]
    assert dead["state"] == "Down"
    for volume in cloud.cs.listVolumes(virtualmachineid=vm["id"])["volume"]:
        assert dead["initiatoriqn"] not in san(cloud, "volume", "show", san_name(volume))["allowed_initiators"]
    assert restarted["hostid"] == listed["host2"]["id"]
    cloud.invariant()


def test_hot_plug_stop_start_and_an_agent_killed_with_kill_9(qemu_cloud):
    cloud = qemu_cloud
    listed = hosts(cloud)
    vm = deploy(cloud, listed["host2"])
    wait_for(lambda: boots(cloud, vm["id"]), timeout=120, interval=0.5, what="lunar-guest: ready")
    zone = cloud.cs.listZones()["zone"][0]["id"]

    # Hot attach: the guest sees a new virtio disk and journals on it; detach: it sees it go.
    volume = cloud.cs.createVolume(name="hot", zoneid=zone, diskofferingid=offering(cloud, "disk", "iops-500")["id"], fetch_result=True)["volume"]
    volume = cloud.cs.attachVolume(id=volume["id"], virtualmachineid=vm["id"], fetch_result=True)["volume"]
    wait_for(lambda: "disk vdb appeared" in console(cloud, vm["id"]), timeout=60, interval=0.5, what="the guest to see the attached disk")
    wait_for(lambda: journal(cloud, vm["id"], "vdb"), timeout=60, interval=0.5, what="the journal on the attached disk")
    cloud.invariant()
    cloud.cs.detachVolume(id=volume["id"], fetch_result=True)
    wait_for(lambda: "disk vdb gone" in console(cloud, vm["id"]), timeout=60, interval=0.5, what="the guest to see the disk go")
    assert not san(cloud, "volume", "show", san_name(volume))["allowed_initiators"], "detached: revoked at the SAN"
    cloud.invariant()

    # kill -9 the agent: the guest runs on, nothing is disconnected; the restarted agent adopts it.
    pids = qemu_pids(cloud, "host2")
    root = next(v for v in cloud.cs.listVolumes(virtualmachineid=vm["id"])["volume"] if v["type"] == "ROOT")
    sessions = san(cloud, "volume", "show", san_name(root))["sessions"]
    assert sessions, "the guest is logged in to its root disk"
    os.kill(cloud.agent_pid("host2"), signal.SIGKILL)
    time.sleep(1)
    assert all(alive(pid) for pid in pids), "a killed agent never stops a guest"
    log = open(cloud.data.parent / "agent-host2-restarted.log", "ab")
    agent = subprocess.Popen(
        [cloud.binary, "agent", "--data", str(cloud.data), "--name", "host2", "--initiator", listed["host2"]["initiatoriqn"], "--hypervisor", "qemu"],
        stdout=log, stderr=log,
    )
    try:
        wait_for(lambda: cloud.cs.listHosts(name="host2")["host"][0]["state"] == "Up" and "adopted a running guest" in (cloud.data.parent / "agent-host2-restarted.log").read_text(),
                 timeout=60, what="the restarted agent to register and adopt its guest")
        assert cloud.cs.listVirtualMachines(id=vm["id"])["virtualmachine"][0]["state"] == "Running"
        assert qemu_pids(cloud, "host2") == pids, "the same QEMU runs on"
        assert san(cloud, "volume", "show", san_name(root))["sessions"] == sessions, "nothing was disconnected"
        assert len(boots(cloud, vm["id"])) == 1
        cloud.invariant()

        # Stop (ACPI power-down) and start again with `lunar vm`: a second boot on the same disks.
        assert vm["name"] in cloud.cli("vm", "list").stdout
        cloud.cli("vm", "stop", vm["name"])
        assert not qemu_pids(cloud, "host2"), "stopped: its QEMU is gone"
        assert not san(cloud, "volume", "show", san_name(root))["allowed_initiators"]
        cloud.cli("vm", "start", vm["name"], "--host", "host2")
        wait_for(lambda: len(boots(cloud, vm["id"])) == 2, timeout=120, interval=0.5, what="the second boot")
        printed = cloud.cli("vm", "console", vm["name"]).stdout
        assert printed.count("lunar-guest: ready") == 2 and "disk vdb gone" in printed, "the console log spans both boots"
        cloud.invariant()
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=60)
        # This agent was not started by lunar up: its guests outlive it, so stop them here.
        for pid in qemu_pids(cloud, "host2"):
            os.kill(pid, signal.SIGKILL)


def rate(cloud, vm_id, disk, seconds=6.0):
    """Acknowledged writes per second on `disk`, read from the guest's console."""
    first = journal_advances(cloud, vm_id, [-2] * 4, disk)
    started = time.monotonic()
    time.sleep(seconds)
    last = journal(cloud, vm_id, disk)
    return (last[0] - first[0]) / (time.monotonic() - started)


def test_a_local_pool_is_throttled_by_qemu_live_and_strictqos_refuses_what_it_cannot_guarantee(qemu_cloud, tmp_path):
    cloud = qemu_cloud
    zone = cloud.cs.listZones()["zone"][0]["id"]
    pool = cloud.cs.createStoragePool(name="local1", zoneid=zone, url=f"file://{tmp_path}/local1", provider="local", scope="zone", tags="local")["storagepool"]
    assert pool["storagecapabilities"]["QOS_ENFORCED_BY"] == "hypervisor" and pool["strictqos"] is False
    custom = cloud.cs.createDiskOffering(name="local-custom", displaytext="local, your IOPS", disksize="1", customizediops="true", tags="local")["diskoffering"]

    # Placed with a warning (no storage reserves the minimum), and QEMU holds the maximum.
    zone_obj = cloud.cs.listZones()["zone"][0]
    job = cloud.cs.deployVirtualMachine(
        zoneid=zone_obj["id"], serviceofferingid=offering(cloud, "service", "small")["id"], templateid=guest_template(cloud)["id"],
        diskofferingid=custom["id"], miniops="50", maxiops="100", fetch_result=True,
    )
    vm = job["virtualmachine"]
    assert any("cannot guarantee" in w and "50 IOPS" in w for w in job.get("warnings", [])), job.get("warnings")
    data = next(v for v in cloud.cs.listVolumes(virtualmachineid=vm["id"])["volume"] if v["type"] == "DATADISK")
    assert data["storageid"] == pool["id"] and data["qosenforcedby"] == "hypervisor" and data["miniopsguaranteed"] is False
    wait_for(lambda: boots(cloud, vm["id"]), timeout=120, interval=0.5, what="lunar-guest: ready")
    slow = rate(cloud, vm["id"], "vdb")
    assert 30 <= slow <= 100 * 1.3, f"{slow} writes/s acknowledged under a 100 IOPS throttle"

    # Resized live: the running QEMU's throttle follows, no restart.
    cloud.cs.resizeVolume(id=data["id"], miniops="50", maxiops="400", fetch_result=True)
    fast = rate(cloud, vm["id"], "vdb")
    assert fast > slow * 1.8, f"{fast} writes/s after raising the cap to 400 (was {slow})"
    assert len(boots(cloud, vm["id"])) == 1

    # strictqos: a minimum this pool cannot reserve is refused, with the reason.
    cloud.cs.updateStoragePool(id=pool["id"], strictqos="true")
    from cs import CloudStackApiException
    with pytest.raises(CloudStackApiException) as refused:
        cloud.cs.createVolume(name="strict", zoneid=zone, diskofferingid=custom["id"], miniops="50", maxiops="100", storageid=pool["id"], fetch_result=True)
    assert "strictqos" in refused.value.error["errortext"], refused.value.error
    # With no minimum it is welcome.
    capped = cloud.cs.createDiskOffering(name="local-plain", displaytext="local, no IOPS", disksize="1", tags="local")["diskoffering"]
    placed = cloud.cs.createVolume(name="loose", zoneid=zone, diskofferingid=capped["id"], storageid=pool["id"], fetch_result=True)["volume"]
    assert placed["storageid"] == pool["id"] and placed["miniopsguaranteed"] is True


def test_a_partitioned_host_is_fenced_its_guest_restarted_elsewhere_and_the_old_guest_cannot_write(namespace, data_dir):
    """host1's agent and its QEMU live in a network namespace whose link the test cuts while the
    guest writes. HA fences host1 at the SAN and boots the guest on host2 from the same disks
    (every acknowledged write there); after the heal the old guest's writes are refused (the SAN
    counts none) and host1's agent is told to destroy it."""
    from conftest import Lunar
    from cs import CloudStack
    from test_partition import HOST_SIDE, ROOT_SIDE, sh

    netns, outside = namespace
    config = data_dir.parent / "partition.json"
    config.write_text(json.dumps({"agent_timeout_scale": 0.5, "agent_heartbeat_ms": 250, "missed_heartbeats": 4}))
    lunar = Lunar(data_dir, args=["--hosts", "0", "--hypervisor", "qemu", "--config", str(config), "--bind", ROOT_SIDE, "--portal", f"{ROOT_SIDE}:0"], bare=False)
    agents = []
    try:
        cloud = Seen(data_dir, CloudStack(endpoint=lunar.api, key=lunar.keys["apikey"], secret=lunar.keys["secretkey"]))
        # The template is ready before `lunar up` prints its banner; the banner is after seeding.
        wait_for(lambda: any(t["name"] == "lunar-guest" and t["isready"] for t in cloud.cs.listTemplates(templatefilter="featured").get("template", [])),
                 timeout=900, what="the guest template")
        logs = [open(data_dir.parent / f"agent-{name}.log", "ab") for name in ("host1", "host2")]
        agents.append(subprocess.Popen(["ip", "netns", "exec", netns, lunar.binary, "agent", "--data", str(data_dir), "--name", "host1", "--address", HOST_SIDE,
                                        "--hypervisor", "qemu", "--stop-guests-on-exit"], stdout=logs[0], stderr=logs[0]))
        agents.append(subprocess.Popen([lunar.binary, "agent", "--data", str(data_dir), "--name", "host2", "--address", ROOT_SIDE, "--hypervisor", "qemu",
                                        "--stop-guests-on-exit"], stdout=logs[1], stderr=logs[1]))
        listed = wait_for(lambda: (lambda up: up if len(up) == 2 else None)({h["name"]: h for h in cloud.cs.listHosts().get("host", []) if h["state"] == "Up"}),
                          what="two hosts Up")
        assert listed["host1"]["ipaddress"] == HOST_SIDE
        vm = deploy(cloud, listed["host1"], diskofferingid=offering(cloud, "disk", "iops-500")["id"])
        wait_for(lambda: boots(cloud, vm["id"]), timeout=120, interval=0.5, what="lunar-guest: ready inside the namespace")
        journal_advances(cloud, vm["id"], [5] * 4)
        data = next(v for v in cloud.cs.listVolumes(virtualmachineid=vm["id"])["volume"] if v["type"] == "DATADISK")
        old_qemu = qemu_pids(cloud, "host1")
        assert len(old_qemu) == 1

        def writes():
            return json.loads(lunar.cli("san", "volume", "stats", san_name(data), "--json").stdout)["totals"]["writes"]

        # The partition: host1 (agent and guest) reaches neither the server nor the SAN; its guest
        # keeps trying to write.
        sh("ip", "link", "set", outside, "down")
        acknowledged = journal(cloud, vm["id"])[1]
        wait_for(lambda: next((v for v in cloud.cs.listVirtualMachines(id=vm["id"])["virtualmachine"] if v["state"] == "Running" and v["hostname"] == "host2"), None),
                 timeout=120, what="HA to restart the guest on host2")
        assert cloud.cs.listHosts(id=listed["host1"]["id"])["host"][0]["state"] == "Down"
        assert listed["host1"]["initiatoriqn"] not in san(lunar, "volume", "show", san_name(data))["allowed_initiators"]
        starts = wait_for(lambda: (lambda s: s if len(s) == 2 else None)([m for m in START.finditer(console(cloud, vm["id"])) if m.group(1) == "vdb"]),
                          timeout=120, interval=0.5, what="the journal to start on host2")
        found = [int(x) for x in starts[-1].group(2).split(",")]
        assert all(f >= a for f, a in zip(found, acknowledged)), f"every acknowledged write is on the disk: found {found}, acknowledged {acknowledged}"
        assert all(alive(pid) for pid in old_qemu), "the partitioned guest still runs, still trying to write"

        # Stop the legitimate guest, so any write the SAN counts from now on would be host1's.
        cloud.cs.stopVirtualMachine(id=vm["id"], fetch_result=True)
        before = writes()
        sh("ip", "link", "set", outside, "up")
        wait_for(lambda: cloud.cs.listHosts(id=listed["host1"]["id"])["host"][0]["state"] == "Up", timeout=120, what="host1 heard again")
        wait_for(lambda: not any(alive(pid) for pid in old_qemu), timeout=120, what="host1's agent to destroy the old guest")
        wait_for(lambda: cloud.cs.checkAccessInvariant()["invariant"]["ok"], timeout=60, what="the invariant after the heal")
        assert writes() == before, "a fenced guest wrote to the volume"
    finally:
        for agent in agents:
            if agent.poll() is None:
                agent.terminate()
                agent.wait(timeout=60)
        for pid in qemu_pids(Seen(data_dir), "host1") + qemu_pids(Seen(data_dir), "host2"):
            os.kill(pid, signal.SIGKILL)
        assert lunar.stop(timeout=60) == 0

