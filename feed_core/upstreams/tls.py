"""Which certificates upstream TLS connections trust.

The operating system's trust store (through ``truststore``: Windows, macOS, and the system CA paths on
Linux), plus the PEM file in ``FEED_UPSTREAM_CA_BUNDLE`` and the one in ``SSL_CERT_FILE`` when set. That
way a TLS-inspecting corporate proxy works once its CA is in the system store or in one of those files.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

import truststore

CA_BUNDLE_SETTING = "FEED_UPSTREAM_CA_BUNDLE"


def trust_context(ca_bundle: str = "", env: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """A client context verifying against the system store plus the extra bundles.

    ``ssl.SSLError``/``OSError`` when a bundle cannot be read (a configuration error)."""
    context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    env = os.environ if env is None else env
    for bundle in (ca_bundle, env.get("SSL_CERT_FILE", "")):
        if bundle:
            context.load_verify_locations(cafile=bundle)
    return context
