"""A call's telemetry: the hooks every call goes through, and OpenTelemetry behind them.

``hooks``: the :class:`~.hooks.Observer` protocol and the shared do-nothing observer;
``front``: the client's :class:`~.front.Telemetry`, which decides once whether
OpenTelemetry is on; ``otel``: the GenAI spans and metrics, imported only when it is.
"""
