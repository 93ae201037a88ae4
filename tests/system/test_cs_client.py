"""Python's `cs` package (what many CloudStack users script with) against a running Lunar."""
import pytest
from cs import CloudStack, CloudStackApiException

ZONE = {"networktype": "Basic", "dns1": "8.8.8.8", "internaldns1": "10.0.0.1"}


@pytest.mark.parametrize("method", ["get", "post"])
def test_list_apis_and_zones_signed(lunar, method):
    client = CloudStack(endpoint=lunar.api, key=lunar.keys["apikey"], secret=lunar.keys["secretkey"], method=method)
    apis = client.listApis()
    names = {api["name"] for api in apis["api"]}
    assert {"listZones", "createZone", "queryAsyncJobResult", "createAccount"} <= names
    assert apis["count"] == len(apis["api"])
    assert client.listZones() == {}
    zone = client.createZone(name=f"zone {method} * + = & é", **ZONE)["zone"]
    listed = client.listZones(id=zone["id"])
    assert listed["count"] == 1
    assert listed["zone"][0]["name"] == f"zone {method} * + = & é"
    assert listed["zone"][0]["networktype"] == "Basic"


def test_fetch_list_paging(cs_client):
    for index in range(7):
        cs_client.createZone(name=f"z{index}", **ZONE)
    zones = cs_client.listZones(fetch_list=True, pagesize=3)
    assert sorted(zone["name"] for zone in zones) == [f"z{index}" for index in range(7)]


def test_errors_reach_the_client_with_codes(cs_client, lunar):
    with pytest.raises(CloudStackApiException) as unknown:
        cs_client.doesNotExist()
    assert unknown.value.response.status_code == 432
    assert unknown.value.error["errorcode"] == 432

    with pytest.raises(CloudStackApiException) as missing:
        cs_client.createZone(name="no-dns")
    assert missing.value.response.status_code == 431
    assert missing.value.error["cserrorcode"] == 4350
    assert "missing parameter" in missing.value.error["errortext"]
    assert missing.value.response.headers["X-Description"] == missing.value.error["errortext"]

    wrong = CloudStack(endpoint=lunar.api, key=lunar.keys["apikey"], secret="not-the-secret")
    with pytest.raises(CloudStackApiException) as unauthorized:
        wrong.listZones()
    assert unauthorized.value.response.status_code == 401

    with pytest.raises(CloudStackApiException) as expired:
        cs_client.listZones(signatureVersion="3", expires="2020-01-01T00:00:00+0000")
    assert expired.value.response.status_code == 401


def test_async_job_through_cs(cs_client):
    account = cs_client.createAccount(
        username="tenant1", password="secret", email="t@example.org", firstname="T", lastname="One"
    )["account"]
    assert account["name"] == "tenant1"
    assert account["accounttype"] == 0
    result = cs_client.deleteAccount(id=account["id"], fetch_result=True)
    assert result == {"success": True}
    jobs = cs_client.listAsyncJobs()["asyncjobs"]
    assert any(job["cmd"] == "deleteAccount" and job["jobstatus"] == 1 for job in jobs)


def test_a_tenant_sees_only_its_own(cs_client, lunar):
    account = cs_client.createAccount(
        username="tenant2", password="secret", email="t@example.org", firstname="T", lastname="Two"
    )["account"]
    user_id = account["user"][0]["id"]
    keys = cs_client.registerUserKeys(id=user_id)["userkeys"]
    tenant = CloudStack(endpoint=lunar.api, key=keys["apikey"], secret=keys["secretkey"])
    assert [a["name"] for a in tenant.listAccounts(listall=True)["account"]] == ["tenant2"]
    with pytest.raises(CloudStackApiException) as refused:
        tenant.createZone(name="nope", **ZONE)
    assert refused.value.response.status_code == 432
    admin_user = cs_client.listUsers(username="admin")["user"][0]["id"]
    with pytest.raises(CloudStackApiException) as hidden:
        tenant.getUserKeys(id=admin_user)
    assert hidden.value.response.status_code == 431
