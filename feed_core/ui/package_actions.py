"""What a feed's owners do to a package from its page: allow or stop externally-sourced versions, promote a
version to a view, deprecate (npm), unlist and relist (NuGet), yank and unyank (Python, Cargo), delete.

Each action is two requests on ``…/feed/{feed}/{protocol}/{name}/{action}``: a GET shows what will happen and
asks to confirm (a page of its own, so it works without JavaScript), and the POST of that page's form, with the
session's CSRF token, does it through the same service calls as the REST API and goes back to the package with a
notice. The role each needs is checked on both requests; the services check it again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.responses import Response

from feed_core.domain.access import caller_role, require_role
from feed_core.domain.errors import BadRequestError, NotFoundError
from feed_core.domain.models import Feed, PackageVersion
from feed_core.domain.roles import Role
from feed_core.domain.upstream_rules import Behaviour
from feed_core.ui.package_data import PROTOCOLS, stored_name, version_number
from feed_core.ui.page import Ui, UiRoute

log = logging.getLogger("feed_core.ui")

MAX_MESSAGE = 1024


@dataclass(frozen=True)
class Target:
    """What an action acts on: the package, and the version when the action takes one."""

    feed: Feed
    protocol: str
    name: str
    version: PackageVersion | None


Run = Callable[[Ui, Target, dict[str, str]], Awaitable[str]]


@dataclass(frozen=True)
class Action:
    key: str
    label: str  # the button's words
    doing: str  # what a refusal names: "deleting package versions"
    role: Role
    protocols: tuple[str, ...]
    run: Run
    takes_version: bool = True
    danger: bool = False

    def applies(self, protocol: str, version: PackageVersion | None) -> bool:
        """Whether the action is offered for this protocol and version (in its current state)."""
        if protocol not in self.protocols:
            return False
        if not self.takes_version:
            return True
        if version is None or version.deleted is not None:
            return False
        return _STATE_CHECKS.get(self.key, _always)(version)


def _always(v: PackageVersion) -> bool:
    del v
    return True


def _yanked(v: PackageVersion) -> bool:
    if v.protocol == "cargo":
        return v.unlisted is not None
    return any("yanked" in f for f in v.files)


_STATE_CHECKS: dict[str, Callable[[PackageVersion], bool]] = {
    "deprecate": lambda v: True,
    "undeprecate": lambda v: bool(v.deprecated),
    "unlist": lambda v: v.unlisted is None,
    "relist": lambda v: v.unlisted is not None,
    "yank": lambda v: not _yanked(v),
    "unyank": _yanked,
}


def _number(t: Target) -> str:
    assert t.version is not None
    return t.version.version


async def _upstreaming(ui: Ui, t: Target, form: dict[str, str]) -> str:
    allow = _flag(form.get("allow", ""))
    behaviour = Behaviour.ALLOW_EXTERNAL if allow else Behaviour.AUTO
    await ui.services.resolver.set_behaviour(t.feed, t.protocol, t.name, behaviour)
    who = ui.caller.user
    log.info("upstream behaviour of %s in %s set to %s by %s (UI)", t.name, t.feed.scope_label, behaviour.value, who)
    if allow:
        return f"{t.name} now takes versions from external upstream sources."
    return f"{t.name} takes external versions only while no version of it is published to this feed (Auto)."


async def _promote(ui: Ui, t: Target, form: dict[str, str]) -> str:
    chosen = form.get("view", "").strip()[:100]
    if not chosen:
        raise BadRequestError("choose the view to promote the version to")
    view = ui.services.feeds.view(t.feed, chosen)
    await ui.services.packages.promote(t.feed, ui.caller, t.protocol, t.name, _number(t), view)
    return f"{t.name} {_number(t)} is in view @{view.name}."


async def _deprecate(ui: Ui, t: Target, form: dict[str, str]) -> str:
    message = form.get("message", "").strip()
    if not message:
        raise BadRequestError("say why the version is deprecated (the message npm shows on install)")
    if len(message) > MAX_MESSAGE:
        raise BadRequestError(f"a deprecation message may be at most {MAX_MESSAGE} characters")
    await ui.services.packages.deprecate(t.feed, ui.caller, t.protocol, t.name, {_number(t): message})
    return f"{t.name}@{_number(t)} is deprecated."


async def _undeprecate(ui: Ui, t: Target, form: dict[str, str]) -> str:
    del form
    await ui.services.packages.deprecate(t.feed, ui.caller, t.protocol, t.name, {_number(t): ""})
    return f"{t.name}@{_number(t)} is no longer deprecated."


async def _unlist(ui: Ui, t: Target, form: dict[str, str]) -> str:
    del form
    await ui.services.packages.set_listed(t.feed, ui.caller, t.protocol, t.name, _number(t), False)
    return f"{t.name} {_number(t)} is unlisted."


async def _relist(ui: Ui, t: Target, form: dict[str, str]) -> str:
    del form
    await ui.services.packages.set_listed(t.feed, ui.caller, t.protocol, t.name, _number(t), True)
    return f"{t.name} {_number(t)} is listed again."


async def _yank(ui: Ui, t: Target, form: dict[str, str]) -> str:
    if t.protocol == "cargo":
        await ui.services.packages.set_listed(t.feed, ui.caller, "cargo", t.name, _number(t), False)
    else:
        reason = form.get("reason", "").strip()[:MAX_MESSAGE]
        await ui.services.packages.set_yanked(t.feed, ui.caller, t.protocol, t.name, _number(t), reason)
    return f"{t.name} {_number(t)} is yanked."


async def _unyank(ui: Ui, t: Target, form: dict[str, str]) -> str:
    del form
    if t.protocol == "cargo":
        await ui.services.packages.set_listed(t.feed, ui.caller, "cargo", t.name, _number(t), True)
    else:
        await ui.services.packages.set_yanked(t.feed, ui.caller, t.protocol, t.name, _number(t), None)
    return f"{t.name} {_number(t)} is no longer yanked."


async def _delete(ui: Ui, t: Target, form: dict[str, str]) -> str:
    del form
    await ui.services.packages.unpublish(t.feed, ui.caller, t.protocol, t.name, [_number(t)])
    log.info("%s %s deleted from %s by %s (UI)", t.name, _number(t), t.feed.scope_label, ui.caller.user)
    return f"{t.name} {_number(t)} is deleted; its version number stays reserved."


ACTIONS: dict[str, Action] = {
    a.key: a
    for a in (
        Action(
            "upstreaming", "Change", "changing upstream behaviour", Role.ADMINISTRATOR, PROTOCOLS, _upstreaming,
            takes_version=False,
        ),
        Action("promote", "Promote", "promoting packages", Role.CONTRIBUTOR, PROTOCOLS, _promote),
        Action("deprecate", "Deprecate", "deprecating packages", Role.CONTRIBUTOR, ("npm",), _deprecate),
        Action("undeprecate", "Undeprecate", "deprecating packages", Role.CONTRIBUTOR, ("npm",), _undeprecate),
        Action("unlist", "Unlist", "unlisting packages", Role.CONTRIBUTOR, ("nuget",), _unlist),
        Action("relist", "Relist", "listing packages", Role.CONTRIBUTOR, ("nuget",), _relist),
        Action("yank", "Yank", "yanking packages", Role.CONTRIBUTOR, ("pypi", "cargo"), _yank),
        Action("unyank", "Unyank", "yanking packages", Role.CONTRIBUTOR, ("pypi", "cargo"), _unyank),
        Action("delete", "Delete", "deleting package versions", Role.CONTRIBUTOR, PROTOCOLS, _delete, danger=True),
    )
}  # fmt: skip


def _flag(text: str) -> bool:
    if text not in ("true", "false"):
        raise BadRequestError("allow must be true or false")
    return text == "true"


def version_actions(feed: Feed, protocol: str, version: PackageVersion, role: Role) -> list[Action]:
    """The actions the caller's role allows on this version in its current state (what the page offers)."""
    has_views = any(not v.is_local for v in feed.views)
    return [
        a
        for a in ACTIONS.values()
        if a.takes_version and role >= a.role and a.applies(protocol, version) and (a.key != "promote" or has_views)
    ]


async def _target(ui: Ui, protocol: str, key: str, number: str) -> tuple[Action, Target]:
    """The action and what it acts on, after the caller's role is checked: 404 for an unknown action, package or
    version, 403 when the role falls short, 400 for a malformed name or number."""
    action = ACTIONS.get(key.lower())
    if action is None or protocol not in action.protocols:
        raise NotFoundError(f"there is no action {key[:40]!r} for {protocol} packages")
    feed = await ui.services.feeds.find(ui.org, ui.project, ui.params["feed"])
    require_role(feed, ui.caller, Role.READER, "reading packages")
    name = stored_name(protocol, ui.params["name"])
    require_role(feed, ui.caller, action.role, action.doing)
    version = None
    if action.takes_version:
        wanted = version_number(protocol, number)
        version = await ui.services.packages.version(feed, protocol, name, wanted)
        if version is None or version.deleted is not None:
            raise NotFoundError(f"{name} {wanted} does not exist in feed {feed.name}")
        if not action.applies(protocol, version):
            raise BadRequestError(f"{action.label.lower()} does not apply to {name} {wanted} as it is now")
    return action, Target(feed, protocol, name, version)


def _confirm(protocol: str) -> Callable[[Ui], Awaitable[Response]]:
    async def confirm(ui: Ui) -> Response:
        action, target = await _target(ui, protocol, ui.params["action"], ui.query("version"))
        behaviour = await ui.services.resolver.behaviour(target.feed, protocol, target.name)
        allow = ui.query("allow") or ("false" if behaviour is Behaviour.ALLOW_EXTERNAL else "true")
        if action.key == "upstreaming":
            _flag(allow)
        back = ui.feed_url(target.feed, protocol, target.name)
        return ui.page(
            "confirm.html",
            action=action,
            target=target,
            protocol=protocol,
            allow=allow == "true",
            behaviour=behaviour,
            release_views=[v for v in target.feed.views if not v.is_local],
            post_to=ui.feed_url(target.feed, protocol, target.name, action.key),
            back=back,
            role=caller_role(target.feed, ui.caller),
        )

    return confirm


def _perform(protocol: str) -> Callable[[Ui], Awaitable[Response]]:
    async def perform(ui: Ui) -> Response:
        form = await ui.form()
        action, target = await _target(ui, protocol, ui.params["action"], form.get("version", ""))
        notice = await action.run(ui, target, form)
        tab = "blocked" if action.key == "upstreaming" else "versions"
        return ui.done(ui.feed_url(target.feed, protocol, target.name, tab=tab), notice)

    return perform


ROUTES: tuple[UiRoute, ...] = tuple(
    route
    for protocol in PROTOCOLS
    for route in (
        UiRoute("GET", ("feed", "{feed}", protocol, "{name}", "{action}"), _confirm(protocol)),
        UiRoute("POST", ("feed", "{feed}", protocol, "{name}", "{action}"), _perform(protocol)),
    )
)
