"""The `lunar` command: client verbs, clean shutdown, resuming on the same data folder."""
import json
import os
import stat
import subprocess

from conftest import Lunar, lunar_binary


def test_cli_verbs(lunar):
    assert lunar.cli("zone", "list").stdout.split() == ["ID", "NAME", "NETWORKTYPE", "ALLOCATIONSTATE"]
    created = json.loads(lunar.cli("zone", "create", "cli-zone", "--json").stdout)
    assert created["name"] == "cli-zone"
    table = lunar.cli("zone", "list").stdout
    assert "cli-zone" in table and created["id"] in table
    listed = json.loads(lunar.cli("api", "listZones", "name=cli-zone").stdout)
    assert listed["count"] == 1
    cluster = json.loads(lunar.cli("cluster", "create", "c1", "--zone", created["id"], "--json").stdout)
    assert cluster["podname"] == "default"
    account = json.loads(lunar.cli("account", "create", "bob", "--password", "pw", "--json").stdout)
    deleted = json.loads(lunar.cli("account", "delete", account["id"], "--json").stdout)
    assert deleted == {"success": True}
    jobs = lunar.cli("job", "list").stdout
    assert "deleteAccount" in jobs


def test_cli_reports_api_errors(lunar):
    failed = lunar.cli("api", "noSuchCommand", check=False)
    assert failed.returncode == 1
    assert "432" in failed.stderr
    bad = lunar.cli("api", "listZones", "id=not-a-uuid", check=False)
    assert bad.returncode == 1
    assert "431" in bad.stderr and "not a UUID" in bad.stderr


def test_cli_without_a_running_lunar_says_so(tmp_path):
    result = subprocess.run(
        [lunar_binary(), "zone", "list", "--data", str(tmp_path / "nothing")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "endpoints.json" in result.stderr or "cannot read" in result.stderr


def test_files_in_the_data_folder(lunar):
    keys = lunar.data / "admin-keys.json"
    assert stat.S_IMODE(os.stat(keys).st_mode) == 0o600
    assert set(json.loads(keys.read_text())) == {"apikey", "secretkey"}
    assert lunar.endpoints["api"].startswith("http://127.0.0.1:")
    assert (lunar.data / "lunar.db").exists()


def test_up_prints_where_it_listens_and_the_keys(data_dir):
    instance = Lunar(data_dir)
    try:
        banner = b""
        while b"Ctrl-C" not in banner:
            line = instance.process.stdout.readline()
            assert line, "lunar up closed stdout before printing its banner"
            banner += line
        text = banner.decode()
        assert instance.api in text
        assert instance.keys["apikey"] in text and instance.keys["secretkey"] in text
    finally:
        assert instance.stop() == 0


def test_restart_on_the_same_folder_resumes(data_dir):
    first = Lunar(data_dir)
    zone = json.loads(first.cli("zone", "create", "kept", "--json").stdout)
    keys = first.keys
    assert first.stop() == 0
    second = Lunar(data_dir)
    try:
        assert second.keys == keys, "the root admin is created once, on first start"
        assert zone["id"] in second.cli("zone", "list").stdout
    finally:
        assert second.stop() == 0


def test_server_with_a_config_file(tmp_path):
    data = tmp_path / "srv"
    config = tmp_path / "lunar.json"
    config.write_text(json.dumps({"data": str(data), "bind": "127.0.0.1", "port": 0}))
    # --data in Lunar() overrides the file's folder with the same path; --config must still be read.
    server = Lunar(data, args=["--config", str(config)], role="server")
    try:
        assert json.loads(server.cli("api", "listCapabilities").stdout)["capability"]["lunarversion"]
    finally:
        assert server.stop() == 0
