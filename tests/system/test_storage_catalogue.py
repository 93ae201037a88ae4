"""Issue 4's scenario on a fresh `lunar up`: offerings, a local pool, volumes placed until IOPS run
out, a resize, deletion; every figure checked at each step, and the sparse files checked on disk."""
import json
import os
from urllib.parse import urlparse

import pytest
from cs import CloudStackApiException
from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider

GB = 1 << 30


def pool_figures(cs_client, pool_id):
    pool = cs_client.listStoragePools(id=pool_id)["storagepool"][0]
    return pool["allocatediops"], pool["disksizeallocated"], pool.get("disksizeused", 0), pool["capacityiops"], pool["disksizetotal"]


def allocated_blocks(path):
    return os.stat(path).st_blocks * 512


def test_iops_scenario_through_cs(cs_client, lunar, tmp_path):
    zone = cs_client.createZone(name="z1", networktype="Advanced", dns1="8.8.8.8", internaldns1="10.0.0.1")["zone"]
    offering = cs_client.createDiskOffering(name="gold", disksize=10, miniops=2500, maxiops=5000)["diskoffering"]
    assert offering["miniops"] == 2500 and offering["iscustomizediops"] is False
    custom = cs_client.createDiskOffering(name="flex", customized=True, customizediops=True)["diskoffering"]
    folder = tmp_path / "pool"
    pool = cs_client.createStoragePool(
        name="p1", zoneid=zone["id"], url=f"file://{folder}", provider="local", capacityiops=10000, capacitybytes=200 * GB
    )["storagepool"]
    assert pool_figures(cs_client, pool["id"]) == (0, 0, 0, 10000, 200 * GB)

    volumes = []
    for index in range(4):
        volume = cs_client.createVolume(
            name=f"v{index}", zoneid=zone["id"], diskofferingid=offering["id"], storageid=pool["id"], fetch_result=True
        )["volume"]
        assert volume["state"] == "Ready" and volume["miniops"] == 2500 and volume["size"] == 10 * GB
        path = volume["path"]
        assert os.path.getsize(path) == 10 * GB
        assert allocated_blocks(path) < GB, "thin: no block written yet"
        volumes.append(volume)
        iops, allocated, used, _, _ = pool_figures(cs_client, pool["id"])
        assert (iops, allocated) == (2500 * (index + 1), 10 * GB * (index + 1))
        assert used < GB

    with pytest.raises(CloudStackApiException) as refused:
        cs_client.createVolume(name="v4", zoneid=zone["id"], diskofferingid=offering["id"], storageid=pool["id"], fetch_result=True)
    assert refused.value.response.status_code == 533
    assert refused.value.error["errortext"] == "No storage pool can take the volume: pool p1: 10000 of 10000 IOPS reserved, needs 2500"
    assert pool_figures(cs_client, pool["id"])[0] == 10000

    # Free one slot, then a custom-IOPS volume takes part of it and is resized with new IOPS.
    cs_client.deleteVolume(id=volumes[0]["id"])
    assert not os.path.exists(volumes[0]["path"])
    assert pool_figures(cs_client, pool["id"])[:2] == (7500, 30 * GB)
    flex = cs_client.createVolume(
        name="flex", zoneid=zone["id"], diskofferingid=custom["id"], size=5, miniops=1000, maxiops=2000, storageid=pool["id"], fetch_result=True
    )["volume"]
    assert pool_figures(cs_client, pool["id"])[:2] == (8500, 35 * GB)
    resized = cs_client.resizeVolume(id=flex["id"], miniops=2500, maxiops=4000, size=6, fetch_result=True)["volume"]
    assert (resized["miniops"], resized["maxiops"], resized["size"]) == (2500, 4000, 6 * GB)
    assert os.path.getsize(resized["path"]) == 6 * GB
    assert pool_figures(cs_client, pool["id"])[:2] == (10000, 36 * GB)
    with pytest.raises(CloudStackApiException) as too_much:
        cs_client.resizeVolume(id=flex["id"], miniops=2600, maxiops=4000, fetch_result=True)
    assert "10000 IOPS reserved" in too_much.value.error["errortext"]

    listed = cs_client.listVolumes(storageid=pool["id"])
    assert listed["count"] == 4
    for volume in listed["volume"]:
        for field in ("id", "name", "state", "type", "size", "miniops", "maxiops", "diskofferingid", "diskofferingname", "zoneid",
                      "storageid", "storage", "path", "provisioningtype", "created", "account"):
            assert field in volume, field
        assert "virtualmachineid" not in volume and "deviceid" not in volume

    for volume in volumes[1:] + [resized]:
        cs_client.deleteVolume(id=volume["id"])
    assert pool_figures(cs_client, pool["id"])[:3] == (0, 0, 0)
    assert os.listdir(folder) == []


def test_libcloud_volume_calls(lunar, cs_client, tmp_path):
    zone = cs_client.createZone(name="lz", networktype="Basic", dns1="8.8.8.8", internaldns1="10.0.0.1")["zone"]
    cs_client.createDiskOffering(name="five", disksize=5)
    cs_client.createStoragePool(name="lp", zoneid=zone["id"], url=f"file://{tmp_path / 'lp'}")
    url = urlparse(lunar.api)
    driver = get_driver(Provider.CLOUDSTACK)(
        lunar.keys["apikey"], lunar.keys["secretkey"], host=url.hostname, port=url.port, path=url.path, secure=False
    )
    volume = driver.create_volume(size=5, name="lc-volume")
    assert volume.name == "lc-volume"
    listed = [v for v in driver.list_volumes() if v.id == volume.id]
    assert len(listed) == 1 and listed[0].size == 5 * GB
    assert listed[0].extra["state"] == "Allocated"
    assert driver.destroy_volume(volume) is True
    assert [v for v in driver.list_volumes() if v.id == volume.id] == []


def test_storage_cli_nouns(lunar, tmp_path):
    zone = json.loads(lunar.cli("zone", "create", "cz", "--json").stdout)
    offering = json.loads(lunar.cli("offering", "create", "silver", "--size", "2", "--min-iops", "100", "--max-iops", "300", "--json").stdout)
    assert offering["miniops"] == 100
    assert "silver" in lunar.cli("offering", "list").stdout
    service = json.loads(lunar.cli("offering", "create", "small", "--service", "--json").stdout)
    assert service["cpunumber"] == 1
    pool = json.loads(lunar.cli(
        "pool", "create", "cp", "--zone", zone["id"], "--url", f"file://{tmp_path / 'cp'}", "--capacity-iops", "1000", "--json"
    ).stdout)
    volume = json.loads(lunar.cli(
        "volume", "create", "cv", "--zone", zone["id"], "--offering", offering["id"], "--pool", pool["id"], "--json"
    ).stdout)
    assert volume["state"] == "Ready"
    assert "cv" in lunar.cli("volume", "list").stdout
    shown = json.loads(lunar.cli("pool", "show", pool["id"], "--json").stdout)
    assert shown["allocatediops"] == 100
    refused = lunar.cli("volume", "resize", volume["id"], "--min-iops", "200", check=False)
    assert refused.returncode == 1 and "fixed IOPS" in refused.stderr
    maintenance = json.loads(lunar.cli("pool", "maintenance", pool["id"], "--json").stdout)
    assert maintenance["state"] == "Maintenance"
    assert json.loads(lunar.cli("pool", "maintenance", pool["id"], "--cancel", "--json").stdout)["state"] == "Up"
    lunar.cli("volume", "delete", volume["id"])
    lunar.cli("pool", "delete", pool["id"])
    assert "cp" not in lunar.cli("pool", "list").stdout
