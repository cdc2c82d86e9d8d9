"""The emulator's public face: ``Emulator``, its settings and lifetime, over its pipeline.

``Emulator`` checks its arguments, builds the pieces, and starts and stops them;
the work is theirs: the endpoint table (``_endpoint_table``), the request
pipeline of the HTTP/1.1 listener (``_pipeline``, with its route table in
``_routes`` and its answer writers in ``_answer_*``), the async invocations'
store and tasks (``_answer_async``), the listeners (``_listeners``), and the
HTTP/2 side for bidirectional streams (``_bidi``).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from ._answer_async import AsyncInvocations
from ._bidi import BidiServer
from ._bidi_faults import BidiFaults
from ._bidi_models import bidi_specs
from ._bidi_types import BidiHandler, BidiRecord
from ._demo_chat import check_dialect
from ._endpoint_table import DEFAULT_MODELS, EndpointTable
from ._faults import Faults, FaultTable
from ._listeners import Listeners
from ._pipeline import RequestPipeline
from ._records import DEFAULT_BODY_LIMIT, DEFAULT_MAX_RECORDS, RecordRing
from ._replies import REGION
from ._sessions import DEFAULT_SESSION_TTL, SessionTable
from ._types import Handler, RequestRecord

__all__ = ["DEFAULT_MODELS", "Emulator"]

DEFAULT_BODY_TIMEOUT = 30.0


class Emulator:
    """A local SageMaker Runtime; see docs/emulator.md.

    ``models`` maps endpoint names to handlers or specs (``"echo"``, ``"demo"``,
    ``"pkg.module:function"``, ``"container:http://127.0.0.1:PORT"``); ``None``
    serves ``echo`` and ``demo``.  ``credentials`` maps access key ids to secrets
    and turns on exact signature checks.  ``faults`` and ``variants`` are per
    endpoint.  ``max_records`` and ``record_body_limit`` bound what
    :attr:`records` keeps; ``body_timeout`` is how long a request body may take to
    arrive after its headers; ``session_ttl`` the lifetime of a stateful session
    whose model gives no expiry.  ``ssl_context`` (a server context with its
    certificate loaded) serves HTTPS.  ``dialect`` is the model server whose chat
    answers the ``demo`` model imitates (``"vllm"``, ``"sglang"``, ``"tgi"``, ...).
    ``bidi_port`` opens the HTTP/2 listener for bidirectional streams (``0``: a free
    port; ``None``: none), serving ``bidi_models`` (default: the ``echo``, ``demo``
    and ``container:`` specs of ``models``) with ``bidi_faults``, over TLS too with
    ``ssl_context``; see docs/bidirectional.md.  ``region`` is the region it stands
    for (a bearer token of the OpenAI-compatible route must be scoped to it);
    ``clock`` is what its signature and token checks take as the time (a test moves
    it; settable while it runs).  Use ``async with`` or ``start()``/``close()``.
    """

    def __init__(
        self,
        models: Mapping[str, Handler | str] | None = None,
        credentials: Mapping[str, str] | None = None,
        faults: Mapping[str, Faults] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token_delay: float = 0.02,
        async_output_dir: str | Path | None = None,
        variants: Mapping[str, Mapping[str, float]] | None = None,
        bidi_port: int | None = None,
        bidi_models: Mapping[str, BidiHandler | str] | None = None,
        bidi_faults: Mapping[str, BidiFaults] | None = None,
        max_records: int = DEFAULT_MAX_RECORDS,
        record_body_limit: int | None = DEFAULT_BODY_LIMIT,
        body_timeout: float | None = DEFAULT_BODY_TIMEOUT,
        session_ttl: float = DEFAULT_SESSION_TTL,
        ssl_context: ssl.SSLContext | None = None,
        region: str = REGION,
        clock: Callable[[], float] = time.time,
        dialect: str = "default",
    ) -> None:
        _check_settings(ssl_context, body_timeout)
        check_dialect(dialect)
        if not isinstance(region, str) or not region:
            raise ValueError(f"region must be a region name such as 'us-east-1', not {region!r}")
        if not callable(clock):
            raise TypeError("clock must be a function returning the time (like time.time)")
        self.region = region
        self.clock: Callable[[], float] = clock
        specs = DEFAULT_MODELS if models is None else models
        self._endpoints = EndpointTable(specs, token_delay, dialect)
        self._models = self._endpoints.models  # the same dict: tests swap a model in it
        self.credentials: Mapping[str, str] | None = (
            dict(credentials) if credentials is not None else None
        )
        self._faults = FaultTable(Faults, faults)
        self._endpoints.set_variants(variants or {})
        self.host = host
        self.port = port
        self.token_delay = token_delay
        self.dialect = dialect
        self.records: RecordRing[RequestRecord] = RecordRing(max_records, record_body_limit)
        sessions = SessionTable(session_ttl)
        self.ssl_context = ssl_context
        self.body_timeout = body_timeout
        self._async = AsyncInvocations(async_output_dir)
        self._bidi = BidiServer(
            bidi_specs(specs) if bidi_models is None else bidi_models,
            credentials=lambda: self.credentials,
            pick_variant=self._endpoints.pick_variant,
            http_endpoints=lambda: self._models,
            faults=bidi_faults,
            token_delay=token_delay,
            host=host,
            port=bidi_port,
            ssl_context=ssl_context,
        )
        self._pipeline = RequestPipeline(
            self, self._endpoints, self._faults, self.records, sessions, self._async
        )
        self._listeners = Listeners(self._pipeline.handle, self._bidi)

    # --- what is served -------------------------------------------------------------

    @property
    def endpoints(self) -> list[str]:
        """The endpoint names served."""
        return list(self._models)

    @property
    def faults(self) -> Mapping[str, Faults]:
        """The faults in force, per endpoint (change them with :meth:`set_faults`)."""
        return self._faults.mapping

    def set_faults(self, endpoint: str, faults: Faults | None) -> None:
        """Set (or with ``None`` clear) an endpoint's faults and restart its request count.

        Safe to call from another thread while the emulator runs.
        """
        self._faults.set(endpoint, faults)

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` once started (``https://`` with an ``ssl_context``)."""
        if not self._listeners.running:
            raise RuntimeError("the emulator is not running: use 'async with' or await start()")
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    def openai_base_url(self, endpoint: str, inference_component: str | None = None) -> str:
        """The OpenAI SDK's ``base_url`` for ``endpoint`` on this emulator (``.../openai/v1``)."""
        path = f"/endpoints/{endpoint}"
        if inference_component is not None:
            path += f"/inference-components/{inference_component}"
        return f"{self.url}{path}/openai/v1"

    @property
    def signature_checks(self) -> str:
        """What is checked of each request's SigV4 signature, in a few words."""
        if self.credentials is None:
            return "any well-formed SigV4 accepted"
        keys = len(self.credentials)
        return f"checked exactly for {keys} key{'s' if keys != 1 else ''}"

    @property
    def bidi_url(self) -> str:
        """``http://HOST:PORT`` (``https://`` with an ``ssl_context``) of the HTTP/2 listener."""
        return self._bidi.url

    @property
    def bidi_records(self) -> RecordRing[BidiRecord]:
        """One record per bidirectional stream, the newest last (the last 1,000 are kept)."""
        return self._bidi.records

    def set_bidi_faults(self, endpoint: str, faults: BidiFaults | None) -> None:
        """Set (or with ``None`` clear) an endpoint's bidirectional-stream faults."""
        self._bidi.set_faults(endpoint, faults)

    @property
    def async_output_dir(self) -> Path:
        """The directory standing in for S3 (a temporary one unless given)."""
        if self._async.store is None:
            raise RuntimeError("the emulator is not running")
        return self._async.store.root

    # --- lifetime -------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start serving; ``port=0`` picks a free port (see :attr:`url`)."""
        if self._listeners.running:
            raise RuntimeError("the emulator is already running")
        self._pipeline.closing = False
        self._async.open()
        self.port = await self._listeners.start_http(self.host, self.port, self.ssl_context)
        try:
            await self._listeners.start_bidi()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Stop serving, finish or cancel pending async invocations, release models."""
        if not self._listeners.running:
            return
        self._pipeline.closing = True
        await self._listeners.close()
        await self._async.finish()
        await self._endpoints.close()
        self._async.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


def _check_settings(ssl_context: object, body_timeout: float | None) -> None:
    """Refuse settings of the wrong kind at once, not on the first request."""
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise TypeError(f"ssl_context must be an ssl.SSLContext, not {type(ssl_context).__name__}")
    if body_timeout is not None and not body_timeout > 0:
        raise ValueError(f"body_timeout must be > 0 seconds or None, got {body_timeout!r}")
