"""``_auth.profile``: a profile's settings and credentials, held to botocore's ``Session``.

The client reads its profile without ``botocore.session`` (see the module); every
answer it takes from a :class:`Profile` must be the one a real ``Session`` gives, on
every configuration here: settings from the environment, the config file and the
credentials file, named and default profiles, each credential source that needs no
network, and the refusals (a missing profile, a broken file).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest
from botocore.configprovider import BOTOCORE_DEFAUT_SESSION_VARIABLES
from botocore.exceptions import BotoCoreError
from botocore.loaders import create_loader

from asyncsagemaker._auth.profile import Profile, data_loader, open_profile

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """\
[default]
region = eu-west-1
retry_mode = adaptive
max_attempts = 7
ca_bundle = /etc/default.pem
s3 =
    addressing_style = path

[profile dev]
region = us-west-2
aws_access_key_id = AKIDCONFIG
aws_secret_access_key = config-secret
metadata_service_timeout = 3
data_path = /nowhere/models

[profile tools]
credential_process = {python} -c "print({{'Version': 1, 'AccessKeyId': 'AKIDPROCESS', \
'SecretAccessKey': 'process-secret'}}.__repr__().replace(chr(39), chr(34)))"

[profile role]
role_arn = arn:aws:iam::123456789012:role/r
source_profile = dev
"""
CREDENTIALS = """\
[default]
aws_access_key_id = AKIDSHARED
aws_secret_access_key = shared-secret

[files]
aws_access_key_id = AKIDFILES
aws_secret_access_key = files-secret
aws_session_token = files-token
"""

#: Environments to try, each over the same files (None: the variable unset).
ENVIRONMENTS: list[dict[str, str | None]] = [
    {},
    {"AWS_PROFILE": "dev"},
    {"AWS_DEFAULT_PROFILE": "files"},
    {"AWS_PROFILE": "tools", "AWS_REGION": "ap-south-1", "AWS_RETRY_MODE": "legacy"},
    {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret"},
    {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_PROFILE": "dev"},
    {"AWS_DEFAULT_REGION": "ca-central-1", "AWS_MAX_ATTEMPTS": "2", "AWS_CA_BUNDLE": "/x.pem"},
    {"AWS_CONFIG_FILE": None, "AWS_SHARED_CREDENTIALS_FILE": None},  # files that do not exist
]
PROFILES = [None, "dev", "files", "tools", "role", "default"]


@pytest.fixture
def aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config"
    config.write_text(CONFIG.format(python=sys.executable))
    credentials = tmp_path / "credentials"
    credentials.write_text(CREDENTIALS)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    return tmp_path


def _apply(environment: dict[str, str | None], monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name, value in environment.items():
        if value is None:
            monkeypatch.setenv(name, str(home / "missing" / name))
        else:
            monkeypatch.setenv(name, value)


def _outcome(call: Any) -> Any:
    """What a call returns, or the botocore error it raises (by type and text)."""
    try:
        return call()
    except BotoCoreError as exc:
        return (type(exc).__name__, str(exc))


def _frozen(credentials: Any) -> Any:
    if credentials is None:
        return None
    frozen = credentials.get_frozen_credentials()
    return (type(credentials).__name__, credentials.method, tuple(frozen))


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=lambda e: ",".join(e) or "none")
@pytest.mark.parametrize("profile", PROFILES)
def test_a_profile_answers_as_a_botocore_session_does(
    environment: dict[str, str | None],
    profile: str | None,
    aws_files: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _apply(environment, monkeypatch, aws_files)
    ours, theirs = Profile(profile), botocore.session.Session(profile=profile)
    for name in BOTOCORE_DEFAUT_SESSION_VARIABLES:
        assert _outcome(functools.partial(ours.get_config_variable, name)) == _outcome(
            functools.partial(theirs.get_config_variable, name)
        ), name
    assert _outcome(ours.get_scoped_config) == _outcome(theirs.get_scoped_config)
    assert _outcome(lambda: ours.full_config) == _outcome(lambda: theirs.full_config)
    assert _outcome(lambda: ours.available_profiles) == _outcome(lambda: theirs.available_profiles)
    assert ours.instance_variables() == theirs.instance_variables()
    assert ours.user_agent() == theirs.user_agent()
    if profile != "role":  # that one would call STS
        assert _outcome(lambda: _frozen(ours.get_credentials())) == _outcome(
            lambda: _frozen(theirs.get_credentials())
        )
    assert ours._session is None  # all of it without a real Session


@pytest.mark.parametrize("profile", [None, "dev", "role", "tools"])
def test_the_credential_chain_is_botocores_provider_for_provider(
    profile: str | None, aws_files: Path
) -> None:
    from botocore.credentials import create_credential_resolver

    def chain(session: Any) -> list[tuple[str, Any]]:
        resolver = create_credential_resolver(session)
        return [(type(p).__name__, getattr(p, "_profile_name", None)) for p in resolver.providers]

    ours = Profile(profile)
    assert chain(ours) == chain(botocore.session.Session(profile=profile))
    assert ours._session is None  # the chain is built without a real Session


def test_an_assumed_role_takes_its_sts_client_from_a_real_session(
    aws_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[tuple[str, dict[str, Any]]] = []

    class Refused(Exception):
        pass

    def create_client(self: Any, service_name: str, **kwargs: Any) -> Any:
        made.append((service_name, kwargs))
        raise Refused("no network in this test")

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client)
    ours = Profile("role")
    credentials = ours.get_credentials()  # deferred: STS is called when they are used
    assert credentials is not None and ours._session is None
    with pytest.raises(Refused):
        credentials.get_frozen_credentials()
    assert [service for service, _ in made] == ["sts"]
    assert made[0][1]["aws_access_key_id"] == "AKIDCONFIG"  # the source profile's keys
    assert isinstance(ours._session, botocore.session.Session)
    assert ours._session.profile == "role"


def test_a_session_attribute_not_written_here_comes_from_a_real_session(aws_files: Path) -> None:
    ours = Profile("dev")
    assert ours.get_available_partitions() == botocore.session.Session().get_available_partitions()
    assert ours._session is not None


def test_registered_session_initializers_make_a_real_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(botocore, "_INITIALIZERS", [seen.append])
    session = open_profile("x")
    assert isinstance(session, botocore.session.Session)
    assert seen == [session]
    monkeypatch.setattr(botocore, "_INITIALIZERS", [])
    assert isinstance(open_profile("x"), Profile)


@pytest.mark.parametrize("type_name", ["service-2", "endpoint-rule-set-1"])
def test_the_one_service_loader_loads_what_botocores_loader_loads(
    type_name: str, tmp_path: Path
) -> None:
    assert data_loader(None).load_service_model("sagemaker-runtime", type_name) == create_loader(
        None
    ).load_service_model("sagemaker-runtime", type_name)
    # a data path of one's own (AWS_DATA_PATH, data_path) with a later API version wins
    later = tmp_path / "sagemaker-runtime" / "2099-01-01"
    later.mkdir(parents=True)
    (later / f"{type_name}.json").write_text(json.dumps({"version": "later"}))
    ours = data_loader(str(tmp_path)).load_service_model("sagemaker-runtime", type_name)
    assert ours == create_loader(str(tmp_path)).load_service_model("sagemaker-runtime", type_name)
    assert ours == {"version": "later"}
    assert data_loader(None).load_data("partitions") == create_loader(None).load_data("partitions")


def test_a_client_in_a_fresh_process_never_imports_botocores_client_machinery(
    aws_files: Path,
) -> None:
    """Explicit keys, environment keys, a profile's keys from either file, a process."""
    code = (
        "import asyncio, json, os, sys\n"
        "from asyncsagemaker import SageMakerRuntime\n"
        "async def main(region=None, **kwargs):\n"
        "    url = 'http://127.0.0.1:9'\n"
        "    async with SageMakerRuntime(region, endpoint_url=url, **kwargs) as c:\n"
        "        creds = await c._core.ready.credentials.get()\n"
        "        return [c.region_name, creds.access_key]\n"
        "found = [asyncio.run(main(aws_access_key_id='AKIDX', aws_secret_access_key='s'))]\n"
        "os.environ.update(AWS_ACCESS_KEY_ID='AKIDENV', AWS_SECRET_ACCESS_KEY='e')\n"
        "found.append(asyncio.run(main()))\n"
        "del os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_SECRET_ACCESS_KEY']\n"
        "found.append(asyncio.run(main(profile_name='dev')))\n"
        "found += [asyncio.run(main('sa-east-1', profile_name=p)) for p in ('files', 'tools')]\n"
        "found.append(asyncio.run(main()))\n"
        "heavy = ('botocore.session', 'botocore.client', 'botocore.docs', 'botocore.handlers')\n"
        "print(json.dumps([found, [m for m in heavy if m in sys.modules]]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    found, heavy = json.loads(result.stdout)
    assert found == [
        ["eu-west-1", "AKIDX"],
        ["eu-west-1", "AKIDENV"],
        ["us-west-2", "AKIDCONFIG"],
        ["sa-east-1", "AKIDFILES"],
        ["sa-east-1", "AKIDPROCESS"],
        ["eu-west-1", "AKIDSHARED"],
    ]
    assert heavy == []


@pytest.mark.anyio
async def test_explicit_keys_are_ready_without_a_worker_thread() -> None:
    from botocore.credentials import Credentials

    from asyncsagemaker._auth.credentials import CredentialSource

    source = CredentialSource.of(Credentials("AKID", "secret", "token"))
    frozen = source.fresh()  # no await needed
    assert frozen is not None and frozen[:3] == ("AKID", "secret", "token")
    assert await source.get() is source.fresh()
