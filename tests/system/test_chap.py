"""Accounts and CHAP through real initiators: qemu-img and libiscsi's tools with user%secret."""
import json
import os

from test_san import QEMU_INITIATOR, run, tool, volume_json

SECRET = "Qemu-Secret-12"
TARGET_SECRET = "Target-Secret-9"


def test_a_volume_owned_by_an_account_needs_its_chap_secret(lunar, tmp_path):
    qemu_img = tool("qemu-img")
    created = json.loads(
        lunar.cli("san", "account", "create", "acme", "--initiator-secret", SECRET, "--target-secret", TARGET_SECRET, "--json").stdout
    )
    assert created == {"name": "acme", "initiator_secret": SECRET, "target_secret": TARGET_SECRET}
    volume = volume_json(lunar, "create", "owned", "--size", "64M", "--account", "acme")
    assert volume["account"] == "acme"
    volume_json(lunar, "allow", "owned", QEMU_INITIATOR)
    portal = lunar.endpoints["san_portal"]

    source = tmp_path / "source.raw"
    source.write_bytes(os.urandom(2 << 20))
    url = f"iscsi://acme%{SECRET}@{portal}/{volume['iqn']}/0"
    run(qemu_img, "convert", "-n", "-O", "raw", str(source), url)
    back = tmp_path / "back.raw"
    run(qemu_img, "convert", "-O", "raw", url, str(back))
    assert back.read_bytes()[: 2 << 20] == source.read_bytes()

    for bad in (f"iscsi://acme%Wrong-Secret-1@{portal}/{volume['iqn']}/0", f"iscsi://mallory%{SECRET}@{portal}/{volume['iqn']}/0",
                f"iscsi://{portal}/{volume['iqn']}/0"):
        refused = run(qemu_img, "info", bad, check=False)
        assert refused.returncode != 0 and "uthentication failure" in refused.stderr, refused.stderr

    inq = tool("iscsi-inq")
    answered = run(inq, "-i", QEMU_INITIATOR, f"iscsi://acme%{SECRET}@{portal}/{volume['iqn']}/0")
    assert "lunar" in answered.stdout.lower()


def test_secrets_are_never_listed_and_never_stored_in_the_clear(lunar):
    lunar.cli("san", "account", "create", "beta", "--initiator-secret", SECRET, "--target-secret", TARGET_SECRET)
    listed = lunar.cli("san", "account", "list", "--json").stdout
    shown = lunar.cli("san", "account", "show", "beta", "--json").stdout
    for text in (listed, shown):
        assert SECRET not in text and TARGET_SECRET not in text
    assert SECRET in lunar.cli("san", "account", "show", "beta", "--secrets").stdout
    stored = (lunar.data / "san" / "accounts.json").read_text()
    assert "beta" in stored and SECRET not in stored and TARGET_SECRET not in stored
    key = lunar.data / "san" / "secrets.key"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    lunar.log.flush()
    assert SECRET not in open(lunar.log.name, errors="replace").read()


def test_account_errors_are_clear(lunar):
    short = lunar.cli("san", "account", "create", "c1", "--initiator-secret", "short", check=False)
    assert short.returncode != 0 and "invalid_secret" in short.stderr and "12 to 16" in short.stderr
    same = lunar.cli("san", "account", "create", "c2", "--initiator-secret", SECRET, "--target-secret", SECRET, check=False)
    assert same.returncode != 0 and "must differ" in same.stderr
    missing = lunar.cli("san", "volume", "create", "v", "--size", "8M", "--account", "ghost", check=False)
    assert missing.returncode != 0 and "account_not_found" in missing.stderr
    generated = json.loads(lunar.cli("san", "account", "create", "c3", "--json").stdout)
    assert 12 <= len(generated["initiator_secret"]) <= 16 and generated["initiator_secret"] != generated["target_secret"]
    volume_json(lunar, "create", "v3", "--size", "8M", "--account", "c3")
    busy = lunar.cli("san", "account", "delete", "c3", check=False)
    assert busy.returncode != 0 and "account_in_use" in busy.stderr
    lunar.cli("san", "volume", "delete", "v3")
    lunar.cli("san", "account", "delete", "c3")
    assert "c3" not in lunar.cli("san", "account", "list").stdout


def test_discovery_can_require_chap(data_dir):
    from conftest import Lunar

    lunar = Lunar(data_dir, args=["--discovery-account", "acme"])
    try:
        iscsi_ls = tool("iscsi-ls")
        lunar.cli("san", "account", "create", "acme", "--initiator-secret", SECRET, "--target-secret", TARGET_SECRET)
        volume_json(lunar, "create", "seen", "--size", "8M")
        volume_json(lunar, "allow", "seen", "iqn.2026-11.org.example:ls")
        portal = lunar.endpoints["san_portal"]
        listed = run(iscsi_ls, "-i", "iqn.2026-11.org.example:ls", f"iscsi://acme%{SECRET}@{portal}")
        assert "iqn.2026-11.org.lunar:seen" in listed.stdout
        for url in (f"iscsi://{portal}", f"iscsi://acme%Wrong-Secret-1@{portal}"):
            refused = run(iscsi_ls, "-i", "iqn.2026-11.org.example:ls", url, check=False)
            assert refused.returncode != 0 and "uthentication failure" in refused.stdout + refused.stderr
        busy = lunar.cli("san", "account", "delete", "acme", check=False)
        assert busy.returncode != 0 and "discovery account" in busy.stderr
    finally:
        assert lunar.stop() == 0
