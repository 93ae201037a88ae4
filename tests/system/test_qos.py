"""QoS at the SAN through the CLI, the admin API's /metrics, and qemu-img as a real initiator."""
import json
import os
import urllib.request

from test_san import QEMU_INITIATOR, run, tool, volume_json


def metrics(lunar):
    with urllib.request.urlopen(lunar.endpoints["san_admin"] + "/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        return response.read().decode()


def test_qos_is_set_at_create_changed_live_and_reported(lunar, tmp_path):
    created = volume_json(lunar, "create", "q1", "--size", "64M", "--min", "100", "--max", "1000", "--burst", "1500")
    assert created["qos"] == {"min_iops": 100, "max_iops": 1000, "burst_iops": 1500}

    # Flags not given keep their value; a lowered max pulls nothing else along unless needed.
    changed = volume_json(lunar, "qos", "q1", "--max", "2000")
    assert changed["qos"] == {"min_iops": 100, "max_iops": 2000, "burst_iops": 2000}
    assert volume_json(lunar, "qos", "q1", "--burst", "4000")["qos"]["burst_iops"] == 4000

    # qemu-img writes through the QoS path; the node counts what it did.
    qemu_img = tool("qemu-img")
    volume_json(lunar, "allow", "q1", QEMU_INITIATOR)
    source = tmp_path / "data.raw"
    source.write_bytes(os.urandom(4 << 20))
    url = f"iscsi://{lunar.endpoints['san_portal']}/{created['iqn']}/0"
    run(qemu_img, "convert", "-n", "-O", "raw", str(source), url)
    stats = volume_json(lunar, "stats", "q1")
    assert stats["totals"]["writes"] > 0 and stats["totals"]["bytes_written"] >= 4 << 20
    assert stats["qos"]["max_iops"] == 2000 and stats["qos_enabled"] is True
    assert stats["totals"]["errors"] == 0

    watched = lunar.cli("san", "volume", "stats", "q1", "--watch", "--count", "2").stdout.splitlines()
    assert watched[0].split()[:3] == ["time", "iops", "iops_4k"] and len(watched) == 3

    exported = metrics(lunar)
    assert 'lunar_volume_max_iops{volume="q1"} 2000' in exported
    assert 'lunar_volume_written_bytes_total{volume="q1"}' in exported


def test_node_qos_switch_and_capacity(lunar):
    node = json.loads(lunar.cli("san", "qos", "--json").stdout)
    assert node["enabled"] is True and node["capacity_iops"] >= 100
    assert node["capacity_source"] == "calibrated"  # lunar up measured it at first start
    assert (lunar.data / "san" / "capacity.json").exists()
    off = json.loads(lunar.cli("san", "qos", "--disable", "--capacity-iops", "5000", "--json").stdout)
    assert off == {"enabled": False, "capacity_iops": 5000, "capacity_source": "admin"}
    assert "qos on" in lunar.cli("san", "qos", "--enable").stdout


def test_bad_qos_is_refused_and_nothing_is_lost(lunar):
    volume_json(lunar, "create", "q2", "--size", "8M", "--min", "10", "--max", "20")
    refused = lunar.cli("san", "volume", "qos", "q2", "--min", "50", check=False)
    assert refused.returncode != 0 and "invalid_qos" in refused.stderr and "must not exceed max_iops" in refused.stderr
    half = lunar.cli("san", "volume", "create", "q3", "--size", "8M", "--min", "10", check=False)
    assert half.returncode != 0 and "--min and --max together" in half.stderr
    assert volume_json(lunar, "show", "q2")["qos"] == {"min_iops": 10, "max_iops": 20, "burst_iops": 20}

    # The volume's series go when the volume goes.
    assert 'volume="q2"' in metrics(lunar)
    lunar.cli("san", "volume", "delete", "q2")
    assert 'volume="q2"' not in metrics(lunar)
