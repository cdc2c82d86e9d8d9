"""A profile's settings and credentials as botocore's ``Session`` reads them, without it.

``import botocore.session`` brings botocore's whole client machinery (the client
factory, docs, waiters, paginators, handlers: about 80 M instructions), and making a
``Session`` about 50 M more; a client that only needs a profile's settings and its
credentials uses none of it.  :class:`Profile` answers the questions a ``Session``
answers for us (``get_config_variable``, ``get_scoped_config``, ``full_config``,
``get_credentials``) with botocore's own pieces: its config chains
(``botocore.configprovider``), its config file reader (``botocore.configloader``) and
its credential chain (``botocore.credentials.create_credential_resolver``, which takes
the profile where it takes a session).  So every setting and every credential source
(environment, shared files, ``credential_process``, SSO, assume-role, web identity,
container and instance metadata) resolves exactly as botocore resolves it.

Only a provider that needs an AWS client of its own (STS for assume-role, SSO)
makes a real ``Session``, then, and takes its client from it; anything else a
``Session`` has that is not written here is also taken from that session.  When an
application registered botocore session initializers (``botocore.register_initializer``,
which may change any setting), :func:`open_profile` returns a real ``Session``.

:func:`data_loader` is botocore's model loader, told not to list every service's
folder to find out that ``sagemaker-runtime`` is there.
"""

from __future__ import annotations

import copy
import functools
import os
import platform
from typing import Any

import botocore
import botocore.configloader
from botocore.configprovider import ConfigValueStore, create_botocore_default_config_mapping
from botocore.credentials import Credentials, create_credential_resolver
from botocore.exceptions import ConfigNotFound, DataNotFoundError, ProfileNotFound
from botocore.loaders import Loader, create_loader

__all__ = ["Profile", "data_loader", "open_profile"]

SERVICE = "sagemaker-runtime"  # the only service a client loads a model of


def open_profile(profile: str | None) -> Any:
    """A :class:`Profile`, or a botocore ``Session`` when initializers were registered."""
    if getattr(botocore, "_INITIALIZERS", None):
        from botocore.session import Session

        return Session(profile=profile)
    return Profile(profile)


class Profile:
    """The part of ``botocore.session.Session(profile=profile)`` a client asks for.

    Each method is the ``Session`` method of the same name, written with the same
    botocore functions (``tests/client/test_profile.py`` holds them to a real
    ``Session`` on many configurations).  Any other attribute comes from a real
    ``Session`` made on first need.
    """

    def __init__(self, profile: str | None = None) -> None:
        self._instance_vars: dict[str, Any] = {}
        if profile is not None:
            self._instance_vars["profile"] = profile
        self._config: dict[str, Any] | None = None
        self._profile_map: dict[str, Any] | None = None
        self._credentials: Credentials | None = None
        self._session: Any = None
        self._store = ConfigValueStore(mapping=create_botocore_default_config_mapping(self))

    def instance_variables(self) -> dict[str, Any]:
        return copy.copy(self._instance_vars)

    def get_config_variable(self, logical_name: str, methods: Any = None) -> Any:
        if methods is not None:  # the old per-call chains: botocore's own code
            return self.session.get_config_variable(logical_name, methods)
        return self._store.get_config_variable(logical_name)

    @property
    def profile(self) -> str | None:
        profile: str | None = self.get_config_variable("profile")
        return profile

    @property
    def available_profiles(self) -> list[str]:
        return list(self._build_profile_map())

    def _build_profile_map(self) -> dict[str, Any]:
        if self._profile_map is None:
            self._profile_map = self.full_config["profiles"]
        return self._profile_map

    def get_scoped_config(self) -> dict[str, Any]:
        """The profile's section of the config file (``ProfileNotFound`` if it has none)."""
        profile_name = self.get_config_variable("profile")
        profile_map = self._build_profile_map()
        if profile_name is None:
            scoped: dict[str, Any] = profile_map.get("default", {})
            return scoped
        if profile_name not in profile_map:
            raise ProfileNotFound(profile=profile_name)
        scoped = profile_map[profile_name]
        return scoped

    @property
    def full_config(self) -> dict[str, Any]:
        """The config file, with the profile names of the credentials file added."""
        if self._config is None:
            try:
                config_file = self.get_config_variable("config_file")
                self._config = botocore.configloader.load_config(config_file)
            except ConfigNotFound:
                self._config = {"profiles": {}}
            try:
                cred_file = self.get_config_variable("credentials_file")
                cred_profiles = botocore.configloader.raw_config_parse(cred_file)
                for profile in cred_profiles:
                    cred_vars = cred_profiles[profile]
                    if profile not in self._config["profiles"]:
                        self._config["profiles"][profile] = cred_vars
                    else:
                        self._config["profiles"][profile].update(cred_vars)
            except ConfigNotFound:
                pass
        return self._config

    def get_credentials(self) -> Credentials | None:
        """botocore's default credential chain for this profile (blocks: files, HTTP)."""
        if self._credentials is None:
            self._credentials = create_credential_resolver(self).load_credentials()
        return self._credentials

    def user_agent(self) -> str:
        """``Session.user_agent()`` (the instance metadata provider sends it)."""
        from botocore.compat import HAS_CRT

        if HAS_CRT:
            return str(self.session.user_agent())
        base = (
            f"Botocore/{botocore.__version__} Python/{platform.python_version()} "
            f"{platform.system()}/{platform.release()}"
        )
        if os.environ.get("AWS_EXECUTION_ENV") is not None:
            base += " exec-env/{}".format(os.environ.get("AWS_EXECUTION_ENV"))
        return base

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        """An AWS client, for the providers that call one (assume-role, SSO...)."""
        return self.session.create_client(*args, **kwargs)

    @property
    def session(self) -> Any:
        """A real ``botocore.session.Session`` of this profile, made on first use."""
        if self._session is None:
            from botocore.session import Session

            self._session = Session(profile=self._instance_vars.get("profile"))
        return self._session

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_session", "_instance_vars"):
            raise AttributeError(name)
        return getattr(self.session, name)


def data_loader(data_path: str | None) -> Loader:
    """botocore's loader (``Session.get_component("data_loader")``), for one service.

    ``Loader.load_service_model`` first lists every service's folder (about 400 of
    them, twice: 45 M instructions) only to check that the one asked for is there;
    this loader checks that folder alone, which is the same answer for it.
    """
    loader = create_loader(data_path)
    loader.list_available_services = functools.partial(_services_with, loader)
    return loader


def _services_with(loader: Loader, type_name: str) -> list[str]:
    """``[SERVICE]`` if a folder of the data path has ``type_name`` for it, else ``[]``."""
    try:
        loader.list_api_versions(SERVICE, type_name)
    except DataNotFoundError:
        return []
    return [SERVICE]
