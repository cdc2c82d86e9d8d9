"""_transports."""
