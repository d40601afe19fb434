"""A feed's upstream sources as a client sends them: the request models, validated once at the edge. Pure.

:data:`UpstreamSourceRequest` is one source of a body's ``upstreamSources``: a discriminated union of
:class:`PublicSourceRequest` (a configured public registry, by ``name``), :class:`CustomSourceRequest` (a
registry by its http(s) ``location``) and :class:`InternalSourceRequest` (a view of a feed here, by
``internalUpstream*`` names or ids, or an ``azure-feed://`` location). Clients may leave out
``upstreamSourceType``: the kind is inferred from the other fields. Every shape check and limit is here, so
a validated request is well formed; what needs the catalog or the stored sources (configured names,
upstream feeds, ids kept across updates) is ``feed_core.domain.source_merge`` and the feed service. The stored
sources are ``feed_core.domain.source_models``; locators and registry URLs ``feed_core.domain.source_locations``.

Tolerance: clients send back what GET showed. Unknown fields (``hasCredentials``, ``health``,
``displayLocation``...) are ignored, a ``status`` of ``failed`` or ``unknown`` (shown, never stored) counts
as not sent, and ``enabled`` (true/false) wins over ``status``. Validators raise plain messages without the
field's path: :func:`~feed_core.domain.validation.describe_validation_error` adds it from the error's ``loc``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from feed_core.domain.credentials import Credentials
from feed_core.domain.errors import BadRequestError
from feed_core.domain.model_checks import AnyOf, field_error
from feed_core.domain.names import validate_feed_name, validate_org, validate_project
from feed_core.domain.release_age_policy import ReleaseAgeHours
from feed_core.domain.source_locations import MAX_LOCATION, is_feed_locator, parse_feed_locator, registry_url_problem
from feed_core.domain.source_models import Protocol, SourceStatus
from feed_core.domain.validation import describe_validation_error

#: Statuses GET shows but a client cannot set: a client sending back the source it read changes nothing by them.
SHOWN_ONLY_STATUSES = ("failed", "unknown")
MAX_SOURCES = 50
MAX_ID = 256
MAX_NAME = 64
MAX_USERNAME = 256
MAX_SECRET = 4096
MAX_STATUS_DETAILS = 20
MAX_REASON = 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CREDENTIALS_USAGE = 'must be {"username": "...", "password": "..."} or {"token": "..."}'


def _bad(message: str) -> PydanticCustomError:
    return PydanticCustomError("upstream_source", message)


def _checked(check: Callable[[str], str]) -> Callable[[str], str]:
    """A name rule of ``feed_core.domain.names`` as a validator (its ``BadRequestError`` becomes the message)."""

    def validate(value: str) -> str:
        try:
            return check(value)
        except BadRequestError as exc:
            raise _bad(exc.message) from None

    return validate


def _plain_text(value: str) -> str:
    if _CONTROL.search(value):
        raise _bad("must not contain control characters")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise _bad("must not be blank")
    return value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _empty_is_none(value: Any) -> Any:
    return None if value == "" else value


def _registry_url(location: str) -> str:
    problem = registry_url_problem(location)
    if problem is not None:
        raise _bad(problem)
    return location


# --- field types -----------------------------------------------------------------------------------

SourceName = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME), AfterValidator(_plain_text), AfterValidator(_not_blank)
]
ShortText = Annotated[str, Field(max_length=MAX_NAME), AfterValidator(_plain_text)]
RequestProtocol = Annotated[Protocol, BeforeValidator(_lower)]
RegistryUrl = Annotated[str, Field(min_length=1, max_length=MAX_LOCATION), AfterValidator(_registry_url)]


def _request_status(value: Any) -> Any:
    value = _lower(value)
    return None if value in SHOWN_ONLY_STATUSES else value


#: ``failed`` and ``unknown`` are accepted and ignored (what GET showed); stored are ok and disabled only.
RequestStatus = Annotated[Literal["ok", "disabled", "failed", "unknown"] | None, BeforeValidator(_request_status)]


def _secret(limit: int, username: bool = False) -> Callable[[Any], Any]:
    """Checks of a secret's text; the messages never echo it."""

    def check(value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str) or not value or len(value) > limit or _CONTROL.search(value):
            raise _bad(f"must be a non-empty string of at most {limit} characters, without control ones")
        if username and ":" in value:
            raise _bad("must not contain ':'")
        return value  # text: SecretStr takes it from a JSON body and from Python alike

    return check


class _Strict(BaseModel):
    model_config = ConfigDict(
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        hide_input_in_errors=True,
    )


class _Exact(_Strict):
    """Credentials: exactly these keys (the discriminator refuses others; the schema says so too)."""

    model_config = ConfigDict(extra="forbid")
    tag: ClassVar[str]


class TokenCredentialsRequest(_Exact):
    tag: ClassVar[str] = "TokenCredentials"
    token: Annotated[SecretStr, Field(min_length=1, max_length=MAX_SECRET), BeforeValidator(_secret(MAX_SECRET))]

    def credentials(self) -> Credentials:
        return Credentials(token=self.token)


class BasicCredentialsRequest(_Exact):
    tag: ClassVar[str] = "BasicCredentials"
    username: Annotated[
        SecretStr, Field(min_length=1, max_length=MAX_USERNAME), BeforeValidator(_secret(MAX_USERNAME, True))
    ]
    password: Annotated[SecretStr, Field(min_length=1, max_length=MAX_SECRET), BeforeValidator(_secret(MAX_SECRET))]

    def credentials(self) -> Credentials:
        return Credentials(username=self.username, password=self.password)


def _credentials_shape(value: Any) -> str | None:
    if isinstance(value, TokenCredentialsRequest | BasicCredentialsRequest):
        return value.tag
    keys = set(value) if isinstance(value, dict) else None
    if keys == {"token"}:
        return TokenCredentialsRequest.tag
    return BasicCredentialsRequest.tag if keys == {"username", "password"} else None


CredentialsRequest = Annotated[
    Annotated[TokenCredentialsRequest, Tag(TokenCredentialsRequest.tag)]
    | Annotated[BasicCredentialsRequest, Tag(BasicCredentialsRequest.tag)],
    Discriminator(_credentials_shape, custom_error_type="credentials", custom_error_message=_CREDENTIALS_USAGE),
]


class StatusDetailRequest(_Strict):
    reason: Annotated[str, AfterValidator(lambda text: text[:MAX_REASON])] = ""


def _only_internal(value: Any) -> None:
    if value is not None:
        raise _bad("names an upstream feed, which only internal sources do (upstreamSourceType internal)")


NotInternal = Annotated[None, BeforeValidator(_only_internal)]


# --- the three kinds -------------------------------------------------------------------------------


class _SourceRequest(_Strict):
    """The fields every kind shares. ``id`` keeps a stored source's id, state and credentials."""

    tag: ClassVar[str]

    id: Annotated[str, Field(max_length=MAX_ID)] | None = None
    status: RequestStatus = None
    enabled: bool | None = None
    status_details: Annotated[list[StatusDetailRequest], Field(max_length=MAX_STATUS_DETAILS)] | None = None
    service_endpoint_id: ShortText | None = None
    minimum_release_age_hours: ReleaseAgeHours | None = None

    @property
    def stored_status(self) -> SourceStatus | None:
        """What the client asked for (``enabled`` wins: it is added to a source read back, whose status may be
        stale), or ``None`` to keep the stored one."""
        if self.enabled is not None:
            return "ok" if self.enabled else "disabled"
        return self.status if self.status in ("ok", "disabled") else None


def _external_type(value: Any) -> Any:
    value = _lower(value)
    if value is not None and value != "public":
        raise _bad("must be public or internal")
    return value


class _ExternalRequest(_SourceRequest):
    upstream_source_type: Annotated[Literal["public"] | None, BeforeValidator(_external_type)] = None
    name: SourceName
    #: ``null`` removes stored credentials; left out, the stored ones stay (a client sending back what GET showed).
    credentials: CredentialsRequest | None = None
    internal_upstream_collection_id: NotInternal = None
    internal_upstream_project_id: NotInternal = None
    internal_upstream_feed_id: NotInternal = None
    internal_upstream_view_id: NotInternal = None

    @model_validator(mode="after")
    def _not_universal(self) -> _ExternalRequest:
        if getattr(self, "protocol", None) == "upack":
            raise ValueError(
                "Universal Packages take only other feeds of this service as upstreams (upstreamSourceType internal)"
            )
        return self

    @property
    def sends_credentials(self) -> bool:
        return "credentials" in self.model_fields_set

    def new_credentials(self) -> Credentials | None:
        return None if self.credentials is None else self.credentials.credentials()


class PublicSourceRequest(_ExternalRequest):
    """A public registry the operator configured (``FEED_PUBLIC_SOURCES``), by its name; the protocol, when
    given, must be the configured one."""

    tag: ClassVar[str] = "PublicSource"
    protocol: RequestProtocol | None = None
    location: Annotated[None, BeforeValidator(_empty_is_none)] = None


class CustomSourceRequest(_ExternalRequest):
    """A registry by its http(s) URL, with its credentials if it needs some. A Cargo registry's URL may be given
    as cargo's configuration spells it (``sparse+https://…/index/``): the source keeps the http(s) URL."""

    tag: ClassVar[str] = "CustomSource"
    protocol: RequestProtocol
    location: RegistryUrl

    @model_validator(mode="before")
    @classmethod
    def _sparse_index(cls, value: Any) -> Any:
        if isinstance(value, dict) and _lower(value.get("protocol")) == "cargo":
            location = value.get("location")
            if isinstance(location, str) and location.lower().startswith("sparse+"):
                return {**value, "location": location[len("sparse+") :]}
        return value


@dataclass(frozen=True)
class InternalTarget:
    """The feed and view an internal source names, as the client named them (names or ids)."""

    org: str | None  # None: the organization of the feed being configured
    project: str | None
    feed: str
    view: str
    by_ids: bool  # named through internalUpstream* fields (rather than a location)


def _internal_type(value: Any) -> Any:
    value = _lower(value)
    if value != "internal":
        raise _bad("must be public or internal")
    return value


def _no_credentials(value: Any) -> None:
    if value is not None:
        raise _bad("internal sources take no credentials (feeds of this service are read through their views)")


class InternalSourceRequest(_SourceRequest):
    """A view of a feed of this service: by ``internalUpstreamFeedId`` and ``internalUpstreamViewId`` (names or
    ids; ``internalUpstreamCollectionId`` and ``internalUpstreamProjectId`` for another organization or a
    project's feed), or by an ``azure-feed://`` ``location``. The name defaults to ``FEED@VIEW``."""

    tag: ClassVar[str] = "InternalSource"
    upstream_source_type: Annotated[Literal["internal"] | None, BeforeValidator(_internal_type)] = None
    name: SourceName | None = None
    protocol: RequestProtocol
    internal_upstream_collection_id: (
        Annotated[str, Field(max_length=MAX_NAME), AfterValidator(_checked(validate_org))] | None
    ) = None
    internal_upstream_project_id: (
        Annotated[str, Field(max_length=MAX_NAME), AfterValidator(_checked(validate_project))] | None
    ) = None
    internal_upstream_feed_id: Annotated[str, AfterValidator(_checked(validate_feed_name))] | None = None
    internal_upstream_view_id: (
        Annotated[str, AfterValidator(_checked(lambda v: validate_feed_name(v, "view")))] | None
    ) = None
    location: Annotated[str, Field(max_length=MAX_LOCATION), AfterValidator(_plain_text)] | None = None
    credentials: Annotated[None, BeforeValidator(_no_credentials)] = None

    @field_validator("internal_upstream_collection_id", "internal_upstream_project_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return _empty_is_none(value)

    @field_validator("location")
    @classmethod
    def _locator(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("internal_upstream_feed_id") is None:
            try:
                parse_feed_locator(value)
            except BadRequestError as exc:
                raise _bad(exc.message) from None
        return value

    @model_validator(mode="after")
    def _names_a_feed(self) -> Self:
        if self.internal_upstream_feed_id is not None and self.internal_upstream_view_id is None:
            raise field_error(
                type(self).__name__,
                "internalUpstreamViewId",
                "must name a view of the upstream feed (a view is mandatory, e.g. Local or Release)",
            )
        if self.internal_upstream_feed_id is None and self.location is None:
            raise _bad(
                "an internal source needs internalUpstreamFeedId and internalUpstreamViewId (feed and view, by name "
                "or id), or a location azure-feed://ORG[/PROJECT]/FEED@VIEW"
            )
        return self

    @property
    def target(self) -> InternalTarget:
        if self.internal_upstream_feed_id is not None and self.internal_upstream_view_id is not None:
            return InternalTarget(
                self.internal_upstream_collection_id,
                self.internal_upstream_project_id,
                self.internal_upstream_feed_id,
                self.internal_upstream_view_id,
                by_ids=True,
            )
        assert self.location is not None  # checked by _names_a_feed
        loc = parse_feed_locator(self.location)
        return InternalTarget(loc.org, loc.project, loc.feed, loc.view, by_ids=False)


def _field(value: dict[str, Any], alias: str) -> Any:
    return value.get(alias, value.get(re.sub(r"(?<!^)(?=[A-Z])", "_", alias).lower()))


def _source_kind(value: Any) -> str | None:
    """The tag of the kind a source is: ``upstreamSourceType`` when given, else internal for a source naming a
    feed here, custom for one with a location, public otherwise. ``None`` (not an object): the union's error."""
    if isinstance(value, _SourceRequest):
        return value.tag
    if not isinstance(value, dict):
        return None
    kind, location = _lower(_field(value, "upstreamSourceType")), _field(value, "location")
    if kind == "internal" or (
        kind is None and (_field(value, "internalUpstreamFeedId") is not None or is_feed_locator(location))
    ):
        return InternalSourceRequest.tag
    return PublicSourceRequest.tag if location in (None, "") else CustomSourceRequest.tag


#: One upstream source of a request body (the REST models use it by this name).
UpstreamSourceRequest = Annotated[
    Annotated[PublicSourceRequest, Tag(PublicSourceRequest.tag)]
    | Annotated[CustomSourceRequest, Tag(CustomSourceRequest.tag)]
    | Annotated[InternalSourceRequest, Tag(InternalSourceRequest.tag)],
    Discriminator(
        _source_kind,
        custom_error_type="upstream_source",
        custom_error_message="must be an upstream source: an object with a name, a location, or internalUpstream* ids",
    ),
    AnyOf(),
]
#: A body's whole ``upstreamSources``.
UpstreamSourceRequests = Annotated[list[UpstreamSourceRequest], Field(max_length=MAX_SOURCES)]
#: ``upstreamSources`` for callers without a body model. The input (secrets) never shows in its errors: a model
#: that holds sources needs ``hide_input_in_errors`` too, as only the outermost one's setting counts.
SOURCE_REQUESTS: TypeAdapter[list[UpstreamSourceRequest]] = TypeAdapter(
    UpstreamSourceRequests, config=ConfigDict(hide_input_in_errors=True)
)


def parse_source_requests(value: object, where: str = "upstreamSources") -> list[UpstreamSourceRequest]:
    """Validate ``upstreamSources`` from a parsed JSON body (or models) for callers other than the REST models
    (CLI, tests); ``BadRequestError`` naming each bad field as ``upstreamSources[0].location: ...``."""
    try:
        return SOURCE_REQUESTS.validate_python(value)
    except ValidationError as exc:
        raise BadRequestError(describe_validation_error(exc, where)) from None
