"""``_apis/packaging/feeds/{feed}/retentionpolicies``: a feed's retention policy, in Azure's ``FeedRetentionPolicy``
shape. Anyone who reads the feed may read it; only its owners change or remove it. What the numbers mean, and
which values are good, is the domain's (``domain/retention.py``): its messages are the 400s."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, WithJsonSchema
from starlette.responses import Response

from feed_core.api.models import ApiModel, RequestModel
from feed_core.api.routing import Call
from feed_core.domain.access import require_role
from feed_core.domain.errors import BadRequestError
from feed_core.domain.retention import MAX_COUNT_LIMIT, MAX_DAYS, MIN_COUNT_LIMIT, MIN_DAYS, RetentionPolicy
from feed_core.domain.roles import Role

_COUNT_SCHEMA = {"type": ["integer", "null"], "minimum": MIN_COUNT_LIMIT, "maximum": MAX_COUNT_LIMIT}
_DAYS_SCHEMA = {"type": ["integer", "null"], "minimum": MIN_DAYS, "maximum": MAX_DAYS}


class RetentionPolicyRequest(RequestModel):
    """``PUT …/retentionpolicies``: at most ``countLimit`` versions per package are kept (versions in a view do not
    count); with ``daysToKeepRecentlyDownloadedPackages`` a version downloaded within that many days stays too.
    ``ageLimitInDays`` is deprecated in Azure and ignored. No ``countLimit`` removes the policy."""

    # The domain checks every value and refuses unknown fields, with its own messages: the model only reads them.
    model_config = ConfigDict(extra="allow")

    count_limit: Annotated[Any, WithJsonSchema(_COUNT_SCHEMA)] = None
    days_to_keep_recently_downloaded_packages: Annotated[Any, WithJsonSchema(_DAYS_SCHEMA)] = None
    age_limit_in_days: Annotated[Any, WithJsonSchema({"type": ["integer", "null"]})] = None


class RetentionPolicyResponse(ApiModel):
    """A feed's retention policy; every field null when the feed has none."""

    count_limit: int | None
    days_to_keep_recently_downloaded_packages: int | None
    age_limit_in_days: int | None


def _answer(policy: RetentionPolicy | None) -> RetentionPolicyResponse:
    if policy is None:
        return RetentionPolicyResponse(
            count_limit=None, days_to_keep_recently_downloaded_packages=None, age_limit_in_days=None
        )
    return RetentionPolicyResponse(
        count_limit=policy.count_limit,
        days_to_keep_recently_downloaded_packages=policy.days_to_keep_recently_downloaded,
        age_limit_in_days=None,
    )


async def get_retention_policy(c: Call) -> Response:
    feed = await c.feed()
    require_role(feed, c.caller, Role.READER, "reading the retention policy")
    return c.answer(_answer(feed.retention_policy))


async def set_retention_policy(c: Call) -> Response:
    feed = await c.feed()
    # The role first: a reader learns that it may not, not what is wrong with a body it may not send.
    require_role(feed, c.caller, Role.ADMINISTRATOR, "changing the retention policy")
    body = await c.body(RetentionPolicyRequest)
    sent: dict[str, object] = body.model_dump(by_alias=True)  # the extra fields too, as sent
    try:
        policy = RetentionPolicy.from_rest(sent)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None
    updated = await c.services.feeds.set_retention_policy(feed, c.caller, policy)
    return c.answer(_answer(updated.retention_policy))


async def delete_retention_policy(c: Call) -> Response:
    feed = await c.feed()
    await c.services.feeds.set_retention_policy(feed, c.caller, None)
    return c.empty()
