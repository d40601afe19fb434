"""The REST API's request bodies as pydantic models, in Azure DevOps' camelCase names.

Every known field is strictly typed (``"true"`` is not a boolean, ``1`` is not a string); unknown fields
are ignored, because Azure clients send back whole GET bodies. Name rules (feeds, views, users) stay in
the services, which give the messages that say what a good name looks like; the models check types,
lengths and shapes. A field a PATCH body leaves out is not in ``model_fields_set``: it stays unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    RootModel,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from feed_core.domain.clock import parse_iso
from feed_core.domain.models import ViewVisibility
from feed_core.domain.release_age_policy import (  # the service checks exemptions; the schema shows the same rule
    EXEMPTION_PATTERN,
    MAX_EXEMPTIONS,
    MAX_PATTERN,
    ReleaseAgeHours,
)
from feed_core.domain.roles import Role, Scope, parse_role, parse_scope
from feed_core.domain.upstream_rules import Behaviour, parse_behaviour
from feed_core.domain.upstream_sources import UpstreamSourceRequests

T = TypeVar("T")

#: Patterns the services check (with messages saying what is wrong), for the OpenAPI document.
#: A feed or view name (Azure's rules): no white space (as ``str.isspace``) or control characters, none
#: of @ ~ ; { } \\ + = < > | / ? : & $ * " # [ ] % ', not starting with _ or ., not ending with ., 1-64 long.
_NOT_IN_NAME = (
    r"\x00-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000@~;{}\\+=<>|/?:&$*" + '"' + r"#\[\]%'"
)
NAME_PATTERN = rf"^[^{_NOT_IN_NAME}_.](?:[^{_NOT_IN_NAME}]{{0,62}}[^{_NOT_IN_NAME}.])?$"
USER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$"
#: A user name where an empty one means the caller.
USER_OR_EMPTY_PATTERN = r"^(?:[A-Za-z0-9][A-Za-z0-9._@+-]{0,127})?$"
#: An npm name, or the scope or name part of a scoped one (names read may be legacy: capitals, ~).
NPM_NAME_PART_PATTERN = r"^[A-Za-z0-9~-][A-Za-z0-9._~-]*$"
#: PEP 508 project names (the service compares case-insensitively).
PYPI_NAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$"
#: The common PEP 440 versions (the service takes every PEP 440 version).
PYPI_VERSION_PATTERN = r"^[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?$"
MAX_DESCRIPTION = 255
#: Most users one permissions PATCH names: more than a feed document can hold, and few enough that a body of
#: many bad entries is refused before each is checked.
MAX_PERMISSION_CHANGES = 1000


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class RequestModel(ApiModel):
    # hide_input_in_errors: a ValidationError's text would otherwise quote what was sent, credentials included.
    model_config = ConfigDict(strict=True, hide_input_in_errors=True)


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, "{message}", {"message": message})


def _word(parse: Callable[[str], T], what: str) -> PlainValidator:
    """A string parsed (case-insensitively) into a domain value."""

    def check(value: object) -> T:
        if not isinstance(value, str):
            raise _fail("string_type", f"Input should be a valid string ({what})")
        try:
            return parse(value)
        except ValueError as exc:
            raise _fail("value_error", str(exc)) from None

    return PlainValidator(check)


def _one_of(values: Iterable[str]) -> WithJsonSchema:
    """The schema of a case-insensitive word: its canonical spellings."""
    return WithJsonSchema({"type": "string", "enum": list(values)})


def _visibility(text: str) -> ViewVisibility:
    for v in ViewVisibility:
        if v.value.lower() == text.strip().lower():
            return v
    raise ValueError("Input should be private, collection, organization or aadTenant")


def _valid_to(value: object) -> object:
    if not isinstance(value, str):
        return value  # the datetime check after this one says what is wrong
    try:
        moment = parse_iso(value.upper())
    except ValueError:
        raise _fail(
            "datetime_parsing", "Input should be an ISO-8601 date and time, e.g. 2027-01-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise _fail("timezone_aware", "Input should include a time zone, e.g. 2027-01-01T00:00:00Z")
    return moment


def _is_deleted_path(value: str) -> str:
    if value.lower() != "/isdeleted":
        raise _fail("literal_error", "Input should be '/isDeleted'")
    return value


def _strict_bool(value: object) -> object:
    if not isinstance(value, bool):
        raise _fail("bool_type", "Input should be a valid boolean")
    return value


UserName = Annotated[str, Field(json_schema_extra={"pattern": USER_PATTERN})]
UserNameOrEmpty = Annotated[str, Field(json_schema_extra={"pattern": USER_OR_EMPTY_PATTERN})]
FeedName = Annotated[str, Field(min_length=1, json_schema_extra={"pattern": NAME_PATTERN, "maxLength": 64})]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION)]
RoleName = Annotated[
    Role,
    _word(parse_role, "a role"),
    _one_of(["reader", "collaborator", "contributor", "administrator", "owner", "publisher", "none"]),
]
ScopeName = Annotated[Scope, _word(parse_scope, "a token scope"), _one_of(s.value for s in Scope)]
Visibility = Annotated[ViewVisibility, _word(_visibility, "a visibility"), _one_of(v.value for v in ViewVisibility)]
BehaviourName = Annotated[
    Behaviour, _word(parse_behaviour, "an upstream behaviour"), _one_of(b.value for b in Behaviour)
]
Exemption = Annotated[
    str, Field(min_length=1, max_length=MAX_PATTERN, json_schema_extra={"pattern": EXEMPTION_PATTERN.pattern})
]
Exemptions = Annotated[list[Exemption], Field(max_length=MAX_EXEMPTIONS)]
ValidTo = Annotated[
    datetime,
    BeforeValidator(_valid_to),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


# --- feeds -----------------------------------------------------------------------------------------


class FeedCreateRequest(RequestModel):
    """``POST _apis/packaging/feeds``."""

    name: FeedName
    description: Description | None = None
    upstream_enabled: bool | None = Field(None, description="Whether upstream sources are used (default true).")
    upstream_sources: UpstreamSourceRequests | None = None
    minimum_release_age_hours: ReleaseAgeHours | None = None
    minimum_release_age_exemptions: Exemptions | None = None


class FeedUpdateRequest(RequestModel):
    """``PATCH _apis/packaging/feeds/{feed}``: a field left out (or null) stays as it is, except the release
    age settings: a null ``minimumReleaseAgeHours`` turns the delay off, a null ``minimumReleaseAgeExemptions``
    clears the exemptions. ``upstreamSources`` replaces the whole list."""

    name: FeedName | None = None
    description: Description | None = None
    upstream_enabled: bool | None = None
    upstream_sources: UpstreamSourceRequests | None = None
    hide_deleted_package_versions: bool | None = None
    badges_enabled: bool | None = None
    default_view_id: str | None = Field(None, description="The id (not the name) of a view of the feed.")
    allow_upstream_name_conflict: bool | None = None
    minimum_release_age_hours: ReleaseAgeHours | None = None
    minimum_release_age_exemptions: Exemptions | None = None


# --- views and permissions ---------------------------------------------------------------------------


class ViewCreateRequest(RequestModel):
    """``POST _apis/packaging/feeds/{feed}/views``."""

    name: FeedName
    visibility: Visibility | None = Field(None, description="Default private; case-insensitive.")


class ViewUpdateRequest(RequestModel):
    """``PATCH _apis/packaging/feeds/{feed}/views/{view}``: what is left out stays as it is."""

    name: FeedName | None = None
    visibility: Visibility | None = Field(None, description="Case-insensitive.")


class PermissionChange(RequestModel):
    """One entry of ``PATCH _apis/packaging/feeds/{feed}/permissions``; role ``none`` removes the user."""

    role: RoleName = Field(
        description="Case-insensitive; owner and publisher are accepted for administrator and contributor."
    )
    identity_descriptor: UserName = Field(description="The user name.")


class PermissionsPatch(RootModel[Annotated[list[PermissionChange], Field(max_length=MAX_PERMISSION_CHANGES)]]):
    """``PATCH _apis/packaging/feeds/{feed}/permissions``: the users whose role changes."""

    # Like RequestModel's: the outermost model decides whether errors quote the input.
    model_config = ConfigDict(strict=True, hide_input_in_errors=True)


# --- tokens ----------------------------------------------------------------------------------------


class TokenCreateRequest(RequestModel):
    """``POST _apis/tokens/pats``: a personal access token for the caller, or (administrators) for ``user``."""

    user: UserNameOrEmpty | None = Field(None, description="Default (or empty): the caller.")
    display_name: str | None = None
    scope: ScopeName | None = Field(None, description="Default vso.packaging (read).")
    valid_to: ValidTo | None = Field(None, description="Default: the longest lifetime the server allows.")


# --- packages --------------------------------------------------------------------------------------


class UpstreamingRequest(RequestModel):
    """``PATCH .../{protocol}/packages/{name}/upstreaming``."""

    versions_from_external_upstreams: BehaviourName


def _one_of_fields(fields: dict[str, str]) -> dict[str, Any]:
    """The schema of a body that must set (not to null) at least one of ``fields`` (name -> JSON type)."""
    return {"anyOf": [{"required": [k], "properties": {k: {"type": t}}} for k, t in fields.items()]}


class ViewsOperation(RequestModel):
    """Promote a version into a view: ``{"op": "add", "path": "/views/-", "value": "<view>"}``."""

    op: Literal["add"]
    path: str | None = None
    value: str = Field(description="The view's name or id.")


class NpmVersionUpdate(RequestModel):
    """``PATCH .../npm/{package}/versions/{version}``: promote and/or deprecate (an empty message un-deprecates)."""

    model_config = ConfigDict(json_schema_extra=_one_of_fields({"views": "object", "deprecateMessage": "string"}))

    views: ViewsOperation | None = None
    deprecate_message: str | None = None


class PypiVersionUpdate(RequestModel):
    """``PATCH .../pypi/packages/{name}/versions/{version}``: promote and/or yank (PEP 592)."""

    model_config = ConfigDict(json_schema_extra=_one_of_fields({"views": "object", "yanked": "boolean"}))

    views: ViewsOperation | None = None
    yanked: bool | None = None
    yanked_reason: str = ""


class MavenVersionUpdate(RequestModel):
    """``PATCH .../maven/groups/{g}/artifacts/{a}/versions/{version}``: promote into a view."""

    views: ViewsOperation


class UpackVersionUpdate(RequestModel):
    """``PATCH .../upack/packages/{name}/versions/{version}``: promote into a view."""

    views: ViewsOperation


class CargoVersionUpdate(RequestModel):
    """``PATCH .../cargo/packages/{name}/versions/{version}``: promote and/or yank or unyank (``{"yanked": true}``)."""

    model_config = ConfigDict(json_schema_extra=_one_of_fields({"views": "object", "yanked": "boolean"}))

    views: ViewsOperation | None = None
    yanked: bool | None = None


class NugetVersionUpdate(RequestModel):
    """``PATCH .../nuget/packages/{name}/versions/{version}``: promote and/or list or unlist (``{"listed": false}``)."""

    model_config = ConfigDict(json_schema_extra=_one_of_fields({"views": "object", "listed": "boolean"}))

    views: ViewsOperation | None = None
    listed: bool | None = None


class RestoreOperation(RequestModel):
    """``{"op": "replace", "path": "/isDeleted", "value": false}``."""

    op: Literal["replace"]
    path: Annotated[str, AfterValidator(_is_deleted_path), _one_of(["/isDeleted"])] = Field(
        description="Case-insensitive."
    )
    value: Annotated[Literal[False], BeforeValidator(_strict_bool)]


class RestorePatch(RootModel[Annotated[list[RestoreOperation], Field(min_length=1, max_length=1)]]):
    """``PATCH _apis/packaging/feedrecyclebin/{feed}``: restore a deleted feed."""

    model_config = ConfigDict(strict=True, hide_input_in_errors=True)
