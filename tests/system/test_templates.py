"""Templates on `lunar up`: registered from a real HTTP server on loopback, downloaded into
secondary storage with the checksum checked, copied once onto the SAN, and each root disk a copy
the SAN makes itself. The bytes are read back from the SAN's volume files."""
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from cs import CloudStackApiException

from test_vms import offering, san_name, wait_for

MIB = 1 << 20


@pytest.fixture
def files(tmp_path):
    """A folder served over HTTP on 127.0.0.1 (a port the system picks)."""
    folder = tmp_path / "www"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def image(path: Path) -> bytes:
    """8 MiB: a random mebibyte, six of zeros (holes once copied), a random mebibyte."""
    data = os.urandom(MIB) + bytes(6 * MIB) + os.urandom(MIB)
    path.write_bytes(data)
    return data


def os_type(cloud):
    return cloud.cs.listOsTypes()["ostype"][0]["id"]


def register(cloud, url, **extra):
    zone = cloud.cs.listZones()["zone"][0]["id"]
    parameters = dict(name="tiny", displaytext="tiny test image", url=url, format="RAW", hypervisor="Simulator", ostypeid=os_type(cloud), zoneid=zone)
    parameters.update(extra)
    return cloud.cs.registerTemplate(**parameters)["template"][0]


def settled(cloud, template_id):
    def done():
        listed = cloud.cs.listTemplates(templatefilter="self", id=template_id).get("template", [])
        return listed and listed[0]["status"] not in ("Downloading",) and not listed[0]["status"].endswith("% Downloaded") and listed[0]
    return wait_for(done, timeout=120, what="the template download to end")


def deploy(cloud, template_id):
    zone = cloud.cs.listZones()["zone"][0]
    return cloud.cs.deployVirtualMachine(
        zoneid=zone["id"], serviceofferingid=offering(cloud, "service", "small")["id"], templateid=template_id, fetch_result=True
    )["virtualmachine"]


def root_bytes(cloud, data_dir, vm, length):
    root = next(v for v in cloud.cs.listVolumes(virtualmachineid=vm["id"])["volume"] if v["type"] == "ROOT")
    with open(data_dir / "san" / "volumes" / (san_name(root) + ".img"), "rb") as file:
        return file.read(length), root


def test_a_template_downloads_is_copied_once_onto_the_san_and_each_root_disk_is_a_san_copy(cloud, data_dir, files):
    folder, base = files
    data = image(folder / "tiny.raw")
    digest = hashlib.sha256(data).hexdigest()
    registered = register(cloud, f"{base}/tiny.raw", checksum="{SHA-256}" + digest, ispublic="true")
    assert registered["isready"] is False and registered["format"] == "RAW" and registered["hypervisor"] == "Simulator"
    template = settled(cloud, registered["id"])
    assert template["isready"] is True and template["status"] == "Download Complete", template
    assert template["size"] == 8 * MIB and template["physicalsize"] == 8 * MIB
    assert template["templatetype"] == "USER" and template["account"] == "admin"
    ids = {t["id"] for t in cloud.cs.listTemplates(templatefilter="executable")["template"]}
    assert registered["id"] in ids, "a ready template of the caller's is executable"
    secondary = data_dir / "secondary" / "template" / registered["id"] / "template.raw"
    assert secondary.read_bytes() == data

    before = {v["name"] for v in json.loads(cloud.cli("san", "volume", "list", "--json").stdout)}
    first = deploy(cloud, registered["id"])
    second = deploy(cloud, registered["id"])
    assert first["state"] == "Running" and second["state"] == "Running"
    assert first["templatename"] == "tiny"
    for vm in (first, second):
        content, root = root_bytes(cloud, data_dir, vm, 8 * MIB)
        assert content == data, "the root disk holds the template's bytes"
        assert root["size"] >= 8 * MIB
    after = {v["name"]: v for v in json.loads(cloud.cli("san", "volume", "list", "--json").stdout)}
    added = set(after) - before
    # Two root disks and one template volume: the image was written onto the SAN once.
    assert len(added) == 3, added
    pool = cloud.cs.listStoragePools(name="lunar-san")["storagepool"][0]
    assert pool.get("disksizeused", 0) >= 3 * 2 * MIB, f"the SAN reports what is written (its token is in the pool's details): {pool}"
    for name in added:
        assert after[name]["allocated_bytes"] <= 3 * MIB, f"{name} keeps the template's holes: {after[name]['allocated_bytes']}"
    cloud.invariant()

    # Deleted: gone from the list, its SAN volume and its image; the VMs keep their disks.
    cloud.cs.deleteTemplate(id=registered["id"])
    assert registered["id"] not in {t["id"] for t in cloud.cs.listTemplates(templatefilter="all").get("template", [])}
    remaining = {v["name"] for v in json.loads(cloud.cli("san", "volume", "list", "--json").stdout)}
    assert len(remaining - before) == 2, "the template volume went with the template"
    assert not secondary.parent.exists()
    cloud.cs.stopVirtualMachine(id=first["id"], fetch_result=True)
    started = cloud.cs.startVirtualMachine(id=first["id"], fetch_result=True)["virtualmachine"]
    assert started["state"] == "Running"
    assert root_bytes(cloud, data_dir, first, 8 * MIB)[0] == data
    cloud.invariant()


@pytest.mark.skipif(not shutil.which("qemu-img") and os.environ.get("CI") != "true", reason="needs qemu-img (qemu-utils)")
def test_a_qcow2_template_is_converted_to_raw(cloud, data_dir, files):
    folder, base = files
    data = image(folder / "source.raw")
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(folder / "source.raw"), str(folder / "tiny.qcow2")], check=True)
    registered = register(cloud, f"{base}/tiny.qcow2", format="QCOW2", name="tiny-qcow2")
    template = settled(cloud, registered["id"])
    assert template["isready"] is True, template
    assert template["size"] == 8 * MIB and template["physicalsize"] < 8 * MIB, "the virtual size, and the smaller file downloaded"
    vm = deploy(cloud, registered["id"])
    assert root_bytes(cloud, data_dir, vm, 8 * MIB)[0] == data


def test_bad_templates_fail_with_the_reason_and_cannot_be_deployed(cloud, files):
    folder, base = files
    data = image(folder / "tiny.raw")
    wrong = register(cloud, f"{base}/tiny.raw", checksum=hashlib.md5(b"something else").hexdigest(), name="wrong-sum")
    missing = register(cloud, f"{base}/nothing.raw", name="missing")
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(folder / "tiny.raw"), str(folder / "tiny.qcow2")], check=True)
    mislabelled = register(cloud, f"{base}/tiny.qcow2", name="mislabelled")
    (folder / "odd.raw").write_bytes(data[:1000])
    odd = register(cloud, f"{base}/odd.raw", name="odd")
    for registered, reason in ((wrong, "checksum mismatch"), (missing, "HTTP 404"), (mislabelled, "format=QCOW2"), (odd, "512-byte")):
        template = settled(cloud, registered["id"])
        assert template["isready"] is False and template["status"].startswith("Download Failed") and reason in template["status"], template
        with pytest.raises(CloudStackApiException) as refused:
            deploy(cloud, registered["id"])
        assert refused.value.error["errorcode"] == 431 and "not ready" in refused.value.error["errortext"]
    # Refused at once: a URL that is not HTTP(S), a checksum that is not one, an unknown OS type.
    for extra, text in (
        (dict(url="file:///etc/passwd"), "http"),
        (dict(url=f"{base}/tiny.raw", checksum="{CRC}00"), "algorithm"),
        (dict(url=f"{base}/tiny.raw", checksum="abc"), "digest"),
        (dict(url=f"{base}/tiny.raw", ostypeid="00000000-0000-4000-8000-00000000ffff"), "OS type"),
    ):
        with pytest.raises(CloudStackApiException) as refused:
            register(cloud, extra.pop("url"), **extra)
        assert refused.value.error["errorcode"] == 431 and text in refused.value.error["errortext"], refused.value.error
