"""The managed `lunar` provider through the CloudStack API on `lunar up`: a pool on the built-in
SAN, a volume from an IOPS offering created there with the right QoS, resized live, deleted."""
import json

GB = 1 << 30


def san(lunar, *args):
    return json.loads(lunar.cli("san", *args, "--json").stdout)


def test_a_volume_from_an_iops_offering_lands_on_the_san_with_its_qos(cs_client, lunar):
    token = (lunar.data / "san-admin-token").read_text().strip()
    admin_port = lunar.endpoints["san_admin"].rsplit(":", 1)[1]
    zone = cs_client.createZone(name="z1", networktype="Advanced", dns1="8.8.8.8", internaldns1="10.0.0.1")["zone"]
    offering = cs_client.createDiskOffering(name="gold", disksize=1, miniops=500, maxiops=1000)["diskoffering"]
    node = san(lunar, "qos")
    pool = cs_client.createStoragePool(
        name="san1", zoneid=zone["id"], url=f"lunar://127.0.0.1:{admin_port}?token={token}", provider="lunar", managed=True,
        capacityiops=min(10000, node["capacity_iops"]),
    )["storagepool"]
    assert token not in json.dumps(cs_client.listStoragePools(id=pool["id"])), "the SAN token is not listed back"
    # ...nor stored in the clear: it is sealed with the server's key.
    stored = b"".join(path.read_bytes() for path in lunar.data.iterdir() if path.name.startswith("lunar.db"))
    assert stored and token.encode() not in stored
    assert oct((lunar.data / "server-secrets.key").stat().st_mode & 0o777) == "0o600"

    volume = cs_client.createVolume(name="data1", zoneid=zone["id"], diskofferingid=offering["id"], storageid=pool["id"], fetch_result=True)["volume"]
    assert volume["state"] == "Ready" and volume["miniops"] == 500 and volume["maxiops"] == 1000
    iqn = volume["path"].strip("/").rsplit("/", 1)[0]
    assert volume["path"] == f"/{iqn}/0" and iqn.startswith("iqn.2026-11.org.lunar:vol-")
    at_san = san(lunar, "volume", "show", iqn.split(":", 1)[1])
    assert at_san["qos"] == {"min_iops": 500, "max_iops": 1000, "burst_iops": 1500}
    assert at_san["size_bytes"] == GB and at_san["account"].startswith("lunar-pool-")

    # A pool that claims more IOPS than the node has is refused.
    try:
        cs_client.createStoragePool(
            name="san2", zoneid=zone["id"], url=f"lunar://127.0.0.1:{admin_port}?token={token}", provider="lunar", managed=True,
            capacityiops=node["capacity_iops"] + 1,
        )
        raise AssertionError("the pool should have been refused")
    except Exception as error:  # cs raises CloudStackApiException with the 431 text
        assert "capacityiops" in str(error)

    custom = cs_client.createDiskOffering(name="flex", customized=True, customizediops=True)["diskoffering"]
    flex = cs_client.createVolume(
        name="flex1", zoneid=zone["id"], diskofferingid=custom["id"], size=2, miniops=100, maxiops=400, storageid=pool["id"], fetch_result=True
    )["volume"]
    resized = cs_client.resizeVolume(id=flex["id"], miniops=200, maxiops=800, size=3, fetch_result=True)["volume"]
    assert resized["maxiops"] == 800
    flex_name = flex["path"].strip("/").rsplit("/", 1)[0].split(":", 1)[1]
    after = san(lunar, "volume", "show", flex_name)
    assert after["qos"] == {"min_iops": 200, "max_iops": 800, "burst_iops": 1200} and after["size_bytes"] == 3 * GB

    cs_client.deleteVolume(id=flex["id"])
    assert flex_name not in [v["name"] for v in san(lunar, "volume", "list")]


def test_the_reconciler_removes_access_no_grant_justifies(cs_client, lunar):
    token = (lunar.data / "san-admin-token").read_text().strip()
    admin_port = lunar.endpoints["san_admin"].rsplit(":", 1)[1]
    zone = cs_client.createZone(name="z1", networktype="Advanced", dns1="8.8.8.8", internaldns1="10.0.0.1")["zone"]
    offering = cs_client.createDiskOffering(name="gold", disksize=1, miniops=100, maxiops=200)["diskoffering"]
    pool = cs_client.createStoragePool(
        name="san1", zoneid=zone["id"], url=f"lunar://127.0.0.1:{admin_port}?token={token}", provider="lunar", managed=True, capacityiops=1000
    )["storagepool"]
    volume = cs_client.createVolume(name="d1", zoneid=zone["id"], diskofferingid=offering["id"], storageid=pool["id"], fetch_result=True)["volume"]
    san_name = volume["path"].strip("/").rsplit("/", 1)[0].split(":", 1)[1]

    assert lunar.cli("admin", "reconcile").stdout.strip() == "nothing to fix"
    lunar.cli("san", "volume", "allow", san_name, "iqn.2026-11.org.example:rogue")
    planned = json.loads(lunar.cli("admin", "reconcile", "--dry-run", "--json").stdout)
    assert [(fix["initiator"], fix["action"]) for fix in planned["accessfix"]] == [("iqn.2026-11.org.example:rogue", "would remove")]
    assert "iqn.2026-11.org.example:rogue" in san(lunar, "volume", "show", san_name)["allowed_initiators"]
    assert "removed" in lunar.cli("admin", "reconcile").stdout
    assert san(lunar, "volume", "show", san_name)["allowed_initiators"] == []
    assert lunar.cli("admin", "reconcile").stdout.strip() == "nothing to fix"


def test_done_when_grant_read_write_revoke_and_nothing_to_reconcile(cs_client, lunar, tmp_path):
    """Issue 7's walk through the CloudStack API on `lunar up` (grants by Lunar's admin commands
    until attach and VM start grant them)."""
    import os

    from test_san import QEMU_INITIATOR, run, tool

    qemu_img = tool("qemu-img")
    token = (lunar.data / "san-admin-token").read_text().strip()
    admin_port = lunar.endpoints["san_admin"].rsplit(":", 1)[1]
    zone = cs_client.createZone(name="z1", networktype="Advanced", dns1="8.8.8.8", internaldns1="10.0.0.1")["zone"]
    pod = cs_client.createPod(name="p1", zoneid=zone["id"], gateway="10.0.0.1", netmask="255.255.255.0", startip="10.0.0.10")["pod"]
    cluster = cs_client.addCluster(clustername="c1", zoneid=zone["id"], podid=pod["id"], hypervisor="Simulator", clustertype="CloudManaged")["cluster"][0]
    host = cs_client.addHost(
        zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"], url="http://127.0.0.2", hypervisor="Simulator",
        username="root", password="unused", initiatoriqn=QEMU_INITIATOR,
    )["host"][0]
    pool = cs_client.createStoragePool(
        name="san1", zoneid=zone["id"], url=f"lunar://127.0.0.1:{admin_port}?token={token}", provider="lunar", managed=True, capacityiops=5000
    )["storagepool"]
    offering = cs_client.createDiskOffering(name="gold", disksize=1, miniops=300, maxiops=600)["diskoffering"]
    volume = cs_client.createVolume(name="d1", zoneid=zone["id"], diskofferingid=offering["id"], storageid=pool["id"], fetch_result=True)["volume"]
    san_name = volume["path"].strip("/").rsplit("/", 1)[0].split(":", 1)[1]
    assert san(lunar, "volume", "show", san_name)["qos"] == {"min_iops": 300, "max_iops": 600, "burst_iops": 900}

    access = cs_client.grantVolumeAccess(id=volume["id"], hostid=host["id"])["volumeaccess"]
    assert access["portal"] == lunar.endpoints["san_portal"] and access["lun"] == 0 and access["chapuser"].startswith("lunar-pool-")
    url = f"iscsi://{access['chapuser']}%{access['chapsecret']}@{access['portal']}/{access['iqn']}/{access['lun']}"
    source = tmp_path / "source.raw"
    source.write_bytes(os.urandom(1 << 20))
    run(qemu_img, "convert", "-n", "-O", "raw", str(source), url)
    back = tmp_path / "back.raw"
    run(qemu_img, "convert", "-O", "raw", url, str(back))
    assert back.read_bytes()[: 1 << 20] == source.read_bytes()
    assert not cs_client.reconcileStorageAccess().get("accessfix"), "the grant is recorded: nothing to fix"

    cs_client.revokeVolumeAccess(id=volume["id"], hostid=host["id"])
    refused = run(qemu_img, "info", url, check=False)
    assert refused.returncode != 0 and "uthorization failure" in refused.stderr
    assert lunar.cli("admin", "reconcile").stdout.strip() == "nothing to fix"
