"""Size limits on the version manifest an npm publish carries.

Every version's manifest is served in the package's packument, and the latest one's description and
readme are copied to its top, so one oversized field makes every install of the package slow (a 60 MB
description once made a 125 MB packument). The limits leave room for any real package:

- ``description``: at most 16 KiB characters (real ones are a sentence or two);
- ``readme``: at most 4 MiB characters (npm sends the whole README file; only the latest version's is
  served, at the top of the full packument);
- everything else in the version manifest, as JSON: at most 1 MiB.

Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from feed_core.domain.errors import PayloadTooLargeError

DESCRIPTION_MAX_CHARS = 16 * 1024
README_MAX_CHARS = 4 * 1024 * 1024
MANIFEST_MAX_BYTES = 1024 * 1024


def check_manifest_limits(manifest: Mapping[str, Any]) -> None:
    """Refuse (413) a version manifest with a field or a total beyond the limits above."""
    for field, limit in (("description", DESCRIPTION_MAX_CHARS), ("readme", README_MAX_CHARS)):
        value = manifest.get(field)
        if value is not None and len(_text(value)) > limit:
            raise PayloadTooLargeError(
                f"the package's {field} is longer than the {limit} characters this feed accepts: shorten it"
            )
    rest = {k: v for k, v in manifest.items() if k != "readme"}
    size = len(json.dumps(rest, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MANIFEST_MAX_BYTES:
        raise PayloadTooLargeError(
            f"the version's package.json fields take {size} bytes as JSON (readme aside), more than the "
            f"{MANIFEST_MAX_BYTES} this feed accepts: trim the largest fields"
        )


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
