"""The SAN node through real third-party clients: qemu-img over iscsi://, libiscsi's tools, the CLI."""
import json
import os
import shutil
import stat
import subprocess

import pytest

QEMU_INITIATOR = "iqn.2008-11.org.linux-kvm"  # what qemu-img logs in as by default


def tool(name):
    path = shutil.which(name) or next((p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}") if os.access(p, os.X_OK)), None)
    if path is None:
        message = f"{name} is missing (scripts/test installs libiscsi-bin, qemu-utils, qemu-block-extra)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run(*command, check=True, timeout=120):
    result = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result


def volume_json(lunar, *args):
    return json.loads(lunar.cli("san", "volume", *args, "--json").stdout)


def test_up_starts_a_san_node_with_a_private_token(lunar):
    assert lunar.endpoints["san_portal"].startswith("127.0.0.1:")
    assert lunar.endpoints["san_admin"].startswith("http://127.0.0.1:")
    token = lunar.data / "san-admin-token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert lunar.cli("san", "volume", "list").stdout.strip().startswith("NAME")


def test_done_when_qemu_img_writes_and_reads_back_through_iscsi(lunar, tmp_path):
    qemu_img = tool("qemu-img")
    created = volume_json(lunar, "create", "v1", "--size", "1G")
    assert created["iqn"] == "iqn.2026-11.org.lunar:v1" and created["size_bytes"] == 1 << 30
    url = f"iscsi://{lunar.endpoints['san_portal']}/{created['iqn']}/0"

    # Before the allow, qemu's initiator is refused at login.
    refused = run(qemu_img, "info", url, check=False)
    assert refused.returncode != 0 and "uthorization failure" in refused.stderr

    allowed = volume_json(lunar, "allow", "v1", QEMU_INITIATOR)
    assert allowed["allowed_initiators"] == [QEMU_INITIATOR]

    source = tmp_path / "source.raw"
    source.write_bytes(os.urandom(3 << 20) + bytes(1 << 20) + os.urandom(5 << 20))
    run(qemu_img, "convert", "-n", "-O", "raw", str(source), url)
    back = tmp_path / "back.raw"
    run(qemu_img, "convert", "-O", "raw", url, str(back))
    assert back.stat().st_size == 1 << 30
    with open(back, "rb") as handle:
        assert handle.read(source.stat().st_size) == source.read_bytes()
    # Data checked on the SAN's side too: the volume's file holds the same bytes.
    image = lunar.data / "san" / "volumes" / "v1.img"
    with open(image, "rb") as handle:
        assert handle.read(source.stat().st_size) == source.read_bytes()
    # compare treats the tail of the longer image as needing to be zero: it is.
    assert "Images are identical" in run(qemu_img, "compare", "-f", "raw", "-F", "raw", str(source), url).stdout

    # A qcow2 written into the volume and read back as qcow2.
    qcow = tmp_path / "disk.qcow2"
    run(qemu_img, "create", "-f", "qcow2", str(qcow), "64M")
    run(qemu_img, "convert", "-n", "-f", "qcow2", "-O", "raw", str(qcow), url)
    info = json.loads(run(qemu_img, "info", "--output=json", url).stdout)
    assert info["virtual-size"] == 1 << 30

    # Thin: the file holds about what was written, not 1 GiB.
    shown = volume_json(lunar, "show", "v1")
    assert shown["allocated_bytes"] <= 80 << 20


def test_libiscsi_tools_see_only_what_the_initiator_may_use(lunar):
    iscsi_ls = tool("iscsi-ls")
    iscsi_inq = tool("iscsi-inq")
    readcapacity = tool("iscsi-readcapacity16")
    volume_json(lunar, "create", "mine", "--size", "64M")
    volume_json(lunar, "create", "theirs", "--size", "64M")
    me = "iqn.2026-11.org.example:tools"
    volume_json(lunar, "allow", "mine", me)
    portal = lunar.endpoints["san_portal"]

    listing = run(iscsi_ls, "-i", me, f"iscsi://{portal}").stdout
    assert "iqn.2026-11.org.lunar:mine" in listing and "theirs" not in listing

    url = f"iscsi://{portal}/iqn.2026-11.org.lunar:mine/0"
    assert "LUNAR" in run(iscsi_inq, "-i", me, url).stdout
    serial = volume_json(lunar, "show", "mine")["serial"]
    assert serial in run(iscsi_inq, "-i", me, "-e", "1", "-c", "128", url).stdout
    assert str(64 << 20) in run(readcapacity, "-i", me, url).stdout

    # Online grow, seen by a new login.
    volume_json(lunar, "resize", "mine", "--size", "128M")
    assert str(128 << 20) in run(readcapacity, "-i", me, url).stdout

    refused = run(iscsi_inq, "-i", me, f"iscsi://{portal}/iqn.2026-11.org.lunar:theirs/0", check=False)
    assert refused.returncode != 0


def test_volume_verbs_give_clear_errors(lunar):
    volume_json(lunar, "create", "v1", "--size", "16M")
    duplicate = lunar.cli("san", "volume", "create", "v1", "--size", "16M", check=False)
    assert duplicate.returncode == 1 and "volume_exists" in duplicate.stderr
    bad_size = lunar.cli("san", "volume", "create", "v2", "--size", "lots", check=False)
    assert bad_size.returncode == 1 and "invalid_size" in bad_size.stderr
    bad_iqn = lunar.cli("san", "volume", "allow", "v1", "not-an-iqn", check=False)
    assert bad_iqn.returncode == 1 and "invalid_initiator" in bad_iqn.stderr
    missing = lunar.cli("san", "volume", "show", "nosuch", check=False)
    assert missing.returncode == 1 and "volume_not_found" in missing.stderr

    volume_json(lunar, "allow", "v1", "iqn.2026-11.org.example:a")
    assert lunar.cli("san", "volume", "initiators", "v1").stdout.split() == ["iqn.2026-11.org.example:a"]
    volume_json(lunar, "disallow", "v1", "iqn.2026-11.org.example:a")
    assert lunar.cli("san", "volume", "initiators", "v1").stdout.split() == []
    lunar.cli("san", "volume", "delete", "v1")
    assert volume_json(lunar, "list") == []


def test_admin_url_and_token_instead_of_the_data_folder(lunar):
    token = (lunar.data / "san-admin-token").read_text().strip()
    result = subprocess.run(
        [lunar.binary, "san", "volume", "create", "remote", "--size", "8M", "--admin", lunar.endpoints["san_admin"], "--token", token, "--json"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    wrong = subprocess.run(
        [lunar.binary, "san", "volume", "list", "--admin", lunar.endpoints["san_admin"], "--token", "nope"],
        capture_output=True, text=True, timeout=60,
    )
    assert wrong.returncode == 1 and "unauthorized" in wrong.stderr, (wrong.returncode, wrong.stdout, wrong.stderr)


def test_volumes_survive_a_restart(data_dir):
    from conftest import Lunar

    first = Lunar(data_dir)
    try:
        volume_json(first, "create", "keep", "--size", "32M")
        volume_json(first, "allow", "keep", "iqn.2026-11.org.example:x")
    finally:
        assert first.stop() == 0
    second = Lunar(data_dir)
    try:
        shown = volume_json(second, "show", "keep")
        assert shown["size_bytes"] == 32 << 20 and shown["allowed_initiators"] == ["iqn.2026-11.org.example:x"]
    finally:
        assert second.stop() == 0
