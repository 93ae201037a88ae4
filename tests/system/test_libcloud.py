"""Apache Libcloud's CloudStack driver and its signed connection against a running Lunar."""
from urllib.parse import urlparse

import pytest
from libcloud.compute.providers import get_driver
from libcloud.compute.types import InvalidCredsError, Provider


def driver_for(lunar, secret=None):
    url = urlparse(lunar.api)
    cls = get_driver(Provider.CLOUDSTACK)
    return cls(
        lunar.keys["apikey"], secret or lunar.keys["secretkey"], host=url.hostname, port=url.port, path=url.path, secure=False
    )


def test_signed_requests_through_libcloud(lunar):
    driver = driver_for(lunar)
    created = driver.connection._sync_request(
        "createZone", params={"name": "libcloud zone", "networktype": "Advanced", "dns1": "1.1.1.1", "internaldns1": "10.0.0.1"}
    )
    assert created["zone"]["name"] == "libcloud zone"
    locations = driver.list_locations()
    assert [location.name for location in locations] == ["libcloud zone"]
    capabilities = driver.connection._sync_request("listCapabilities")
    assert capabilities["capability"]["cloudstackversion"]


def test_async_request_through_libcloud(lunar):
    driver = driver_for(lunar)
    account = driver.connection._sync_request(
        "createAccount",
        params={"username": "lc", "password": "pw", "email": "lc@example.org", "firstname": "L", "lastname": "C"},
    )["account"]
    result = driver.connection._async_request("deleteAccount", params={"id": account["id"]})
    assert result == {"success": True}


def test_wrong_secret_is_refused(lunar):
    with pytest.raises(InvalidCredsError):
        driver_for(lunar, secret="wrong").list_locations()
