"""Who the caller is and how a request proves it.

``credentials``: botocore's provider chain, resolved and refreshed off the event loop.
``sigv4``: Signature Version 4 of what is sent, per client, held to botocore's own;
``keys``: its derived key (stdlib), shared with the event signer of bidirectional streams.
"""
