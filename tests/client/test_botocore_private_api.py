"""Every private botocore API the client leans on, pinned: a botocore change fails here, loudly.

Each is used because the public API lacks it (see the module that uses it); if one
of these tests fails after a botocore upgrade, change that module, not the test.
"""

from __future__ import annotations

import datetime
import inspect

import botocore.auth
import botocore.config
from botocore.credentials import RefreshableCredentials
from botocore.retries.adaptive import RateClocker
from botocore.retries.bucket import Clock
from botocore.retries.throttling import CubicCalculator

from asyncsagemaker import Config


def test_host_from_url_gives_the_signed_host_header() -> None:
    # _auth.RequestSigner: the Host value botocore signs (port only when not default).
    assert botocore.auth._host_from_url("https://h.example") == "h.example"
    assert botocore.auth._host_from_url("https://h.example:443") == "h.example"
    assert botocore.auth._host_from_url("http://127.0.0.1:8080") == "127.0.0.1:8080"
    assert botocore.auth._host_from_url("https://h.example:8443") == "h.example:8443"


def test_refreshable_credentials_keep_their_mandatory_window() -> None:
    # _auth.CredentialSource: when callers must wait for a refresh (10 minutes by default).
    credentials = RefreshableCredentials.create_from_metadata(
        {
            "access_key": "a",
            "secret_key": "b",
            "token": "c",
            "expiry_time": (
                datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
            ).isoformat(),
        },
        lambda: {},
        "test",
    )
    assert credentials._mandatory_refresh_timeout == 10 * 60
    assert credentials._advisory_refresh_timeout == 15 * 60
    assert "refresh_in" in inspect.signature(credentials.refresh_needed).parameters


def test_botocore_config_records_what_the_user_set() -> None:
    # _config.Config.from_botocore: only options the user set override our defaults.
    config = botocore.config.Config(read_timeout=7)
    assert set(config._user_provided_options) == {"read_timeout"}
    assert Config.from_botocore(config).max_pool_connections == Config().max_pool_connections


def test_the_adaptive_mode_building_blocks_keep_their_shape() -> None:
    # _retries._AdaptiveRateLimiter uses botocore's CUBIC calculator and rate clock.
    clock = Clock()
    rate = RateClocker(clock)
    assert isinstance(rate.record(), (int, float))
    cubic = CubicCalculator(starting_max_rate=0, start_time=clock.current_time())
    assert cubic.error_received(10.0, clock.current_time()) < 10.0
    assert cubic.success_received(clock.current_time() + 1) > 0
