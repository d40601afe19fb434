"""Every table and the blob container the service keeps, in one place.

Deployment (``infra/``) and ``serve``'s start-up create exactly these; request paths never create
anything, so a request never pays for a create call.
"""

from __future__ import annotations

from feed_core.storage.catalog import FEEDS, ORGS, TOKEN_KIDS, TOKEN_LIST, TOKENS
from feed_core.storage.download_times import DOWNLOADS
from feed_core.storage.health import HEALTH, JOB_STATE
from feed_core.storage.packages import PACKAGE_IDS, PACKAGE_INDEX, PACKAGES
from feed_core.storage.sessions import UI_SESSIONS
from feed_core.storage.upack_chunks import UPACK_CHUNKS
from feed_core.storage.upstream_state import UPSTREAM_META, UPSTREAMING
from feed_core.storage.usage import FEED_USAGE

#: The logical names of every table; a backend maps each onto its own physical name.
ALL_TABLES: tuple[str, ...] = (
    ORGS,
    FEEDS,
    TOKENS,
    TOKEN_LIST,
    TOKEN_KIDS,
    PACKAGES,
    PACKAGE_INDEX,
    PACKAGE_IDS,
    UPSTREAM_META,
    UPSTREAMING,
    HEALTH,
    JOB_STATE,
    UI_SESSIONS,
    FEED_USAGE,
    UPACK_CHUNKS,
    DOWNLOADS,
)
