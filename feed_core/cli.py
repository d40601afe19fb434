"""Command line: ``serve``, and admin commands that work directly on the store (no curl needed).

Admin commands act as the organization's administrator: whoever can read the data directory (or
the storage account) owns the feeds anyway. A running server sees their changes within
``FEED_CACHE_SECONDS``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from feed_core.domain.errors import FeedError
from feed_core.domain.models import Caller
from feed_core.domain.roles import Scope, parse_role, parse_scope
from feed_core.service.container import Services, build_services
from feed_core.settings import Settings, SettingsError
from feed_core.storage.credential_cipher import generate_key, parse_key
from feed_core.universal import command as universal_commands

LOCAL_KEY_FILE = "credentials.key"


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = Path(args.data_dir)
    if getattr(args, "org", None):
        overrides["organization"] = args.org
    settings = Settings.from_env(**overrides)
    if settings.storage == "embedded" and not settings.credentials_key:
        # Validated as it is read (parse_key), so an unchecked copy is safe.
        settings = settings.model_copy(update={"credentials_key": local_credentials_key(settings.data_dir)})
    return settings


def local_credentials_key(data_dir: Path) -> str:
    """The embedded store's own credentials key, made on first use: ``<data dir>/credentials.key`` (mode 0600).

    It keeps upstream credentials out of the SQLite file (and its copies) without any setup; set
    FEED_CREDENTIALS_KEY to keep the key somewhere else. Written whole, then linked into place, so
    concurrent first starts agree on one key."""
    path = data_dir / LOCAL_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{LOCAL_KEY_FILE}.{os.getpid()}.tmp")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(generate_key() + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            draft.unlink()
    key = path.read_text().strip()
    parse_key(key, f"the key file {path}")
    return key


def _admin(settings: Settings) -> Caller:
    return Caller(user=settings.admin_user, scope=Scope.MANAGE, org_admin=True)


async def _with_services(settings: Settings, body: Callable[[Services], Awaitable[int]]) -> int:
    services = await build_services(settings)
    try:
        await services.identity.bootstrap(
            settings.organization, settings.admin_user, settings.admin_token, mint_if_missing=False
        )
        return await body(services)
    finally:
        await services.close()


def python_command() -> str:
    """How to start this same Python from the shell ``serve`` runs in: a bare ``python`` may be another one,
    without the requirements, or none at all.

    ``-m feed_core`` finds the package from the current directory (it is not installed), so the command is
    meant for this directory anyway: the repository's own ``.venv/bin/python`` is printed relative, as the
    README writes it; any other interpreter by its full path, quoted for the shell."""
    if not sys.executable:
        return "python3"
    executable = Path(sys.executable)
    venv = Path(".venv")
    try:
        if venv.is_dir() and venv.samefile(executable.parent.parent):
            return shlex.quote(str(venv / "bin" / executable.name))
    except OSError:
        pass
    return shlex.quote(sys.executable)


def banner(settings: Settings, base: str, minted_token: str | None) -> str:
    """What ``serve`` prints on start: where it serves and, on first start, the administrator token once
    and the next step as a command that works as printed."""
    lines = [f"Feed server for organization '{settings.organization}' on {base} (data: {settings.data_dir})"]
    if minted_token:
        command = [python_command(), "-m", "feed_core", "feed", "create", "myfeed"]
        defaults = Settings.model_fields
        if settings.storage == "embedded" and settings.data_dir != defaults["data_dir"].default:
            command += ["--data-dir", shlex.quote(str(settings.data_dir.absolute()))]
        if settings.organization != defaults["organization"].default:
            command += ["--org", shlex.quote(settings.organization)]
        lines += [
            "\nAdministrator token (shown once; keep it safe):\n",
            f"  {minted_token}\n",
            f"Create a feed:  {' '.join(command)}",
            f"  (or POST {base}/{settings.organization}/_apis/packaging/feeds)",
        ]
    return "\n".join(lines)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from feed_core.app import create_app

    settings = _settings(args)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def started(services: Services, minted: str | None) -> None:
        del services
        print(banner(settings, f"http://{args.host}:{args.port}", minted))
        sys.stdout.flush()

    # The app's lifespan runs the one start-up (storage creation, bootstrap) before uvicorn accepts requests.
    uvicorn.run(
        create_app(settings, with_jobs=args.with_jobs, mint_admin_token=True, on_started=started),
        host=args.host,
        port=args.port,
        log_level="info" if args.access_log else "warning",
        access_log=args.access_log,
        lifespan="on",
        # The app decides alone whom to believe (FEED_TRUSTED_PROXIES, FEED_PUBLIC_URL): uvicorn's own
        # proxy handling would take the client address and scheme from any local caller's headers.
        proxy_headers=False,
    )
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from feed_core import jobs

    settings = _settings(args)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def body(services: Services) -> int:
        if args.action == "gc":
            gc_report = await jobs.run_gc(services, dry_run=args.dry_run)
            print(gc_report.summary())
            return 0
        if args.action == "retention":
            retention_report = await jobs.run_retention(
                services,
                dry_run=args.dry_run,
                feed=args.feed,
                org=settings.organization if args.feed else None,  # a name is matched in one org and project
                project=args.project,
            )
            print(retention_report.summary())
            for feed_line in retention_report.feed_lines:
                print(f"  {feed_line}")
            verb = "would remove" if args.dry_run else "removed"
            for removal in retention_report.removed:
                print(f"  {verb} {removal.line()}")
            if retention_report.unlisted:
                print(f"  ... and {retention_report.unlisted} more")
            for failure in retention_report.failures:
                print(f"  failed: {failure}")
            return 1 if retention_report.failures else 0
        if args.action == "reindex":
            print((await jobs.run_reindex(services, every_row=args.all)).summary())
            return 0
        if args.action == "refresh":
            budget = args.budget or settings.refresh_budget_seconds
            refresh_report = await jobs.run_refresh(services, budget_seconds=budget)
            print(refresh_report.summary())
            for line in refresh_report.flagged_removed:
                print(f"  flagged as removed upstream: {line}")
            return 0
        health_report = await jobs.run_health(services)
        print(health_report.summary())
        return 1 if health_report.failed else 0

    return asyncio.run(_with_services(settings, body))


def cmd_token_create(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def body(services: Services) -> int:
        minted = await services.identity.mint(
            settings.organization,
            _admin(settings),
            user=args.user,
            display_name=args.name or f"token for {args.user}",
            scope=parse_scope(args.scope),
            valid_to=datetime.now(UTC) + timedelta(days=args.days),
        )
        if args.json:
            print(
                json.dumps(
                    {
                        "user": minted.token.user,
                        "token": minted.plaintext,
                        "authorizationId": minted.token.authorization_id,
                        "scope": minted.token.scope.value,
                    }
                )
            )
        else:
            print(minted.plaintext)
        return 0

    return asyncio.run(_with_services(settings, body))


def cmd_token_list(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def body(services: Services) -> int:
        for t in await services.identity.list_tokens(settings.organization, _admin(settings), args.user):
            print(f"{t.authorization_id}  {t.scope.value:22}  valid to {t.valid_to or 'never'}  {t.display_name}")
        return 0

    return asyncio.run(_with_services(settings, body))


def cmd_token_revoke(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def body(services: Services) -> int:
        await services.identity.revoke(settings.organization, _admin(settings), args.authorization_id, args.user)
        print("revoked")
        return 0

    return asyncio.run(_with_services(settings, body))


def cmd_credentials_rotate(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def body(services: Services) -> int:
        missing = services.catalog.credentials_key_missing
        if missing is not None:
            print(f"error: {missing}: set it to the new key (and FEED_CREDENTIALS_OLD_KEYS to the old ones)")
            return 2
        report = await services.feeds.reseal_all_credentials()
        print(
            f"re-encrypted the upstream credentials of {report.rewritten} feeds with key "
            f"{services.catalog.credentials_key_id}"
        )
        for line in report.unreadable:
            print(f"  not re-encrypted (kept as stored): {line}")
        return 1 if report.unreadable else 0

    return asyncio.run(_with_services(settings, body))


def cmd_feed_create(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def body(services: Services) -> int:
        feed = await services.feeds.create(
            settings.organization, args.project, _admin(settings), args.name, args.description or "", True, []
        )
        print(f"created feed {feed.name} ({feed.id})")
        return 0

    return asyncio.run(_with_services(settings, body))


def cmd_feed_list(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def body(services: Services) -> int:
        for feed in await services.feeds.list_feeds(settings.organization, args.project, _admin(settings)):
            print(f"{feed.name}  {feed.id}  views: {', '.join(v.name for v in feed.views)}")
        return 0

    return asyncio.run(_with_services(settings, body))


def cmd_feed_delete(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def body(services: Services) -> int:
        feed = await services.feeds.find(settings.organization, args.project, args.feed)
        await services.feeds.delete(feed, _admin(settings))
        print(
            f"feed {feed.name} ({feed.id}) is in the feed recycle bin for {settings.deleted_feed_retention_days:g} "
            "days: restore it with `feed restore`"
        )
        return 0

    return asyncio.run(_with_services(settings, body))


def cmd_feed_restore(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def body(services: Services) -> int:
        deleted = await services.feeds.find_deleted(settings.organization, args.project, args.feed, _admin(settings))
        feed = await services.feeds.restore(deleted, _admin(settings))
        print(f"restored feed {feed.name} ({feed.id})")
        return 0

    return asyncio.run(_with_services(settings, body))


def cmd_permission_set(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def body(services: Services) -> int:
        feed = await services.feeds.find(settings.organization, args.project, args.feed)
        updated = await services.feeds.set_permissions(feed, _admin(settings), [(args.user, parse_role(args.role))])
        for p in updated.permissions:
            print(f"{p.user}: {p.role.api_name}")
        return 0

    return asyncio.run(_with_services(settings, body))


def _storage_options() -> argparse.ArgumentParser:
    """The options every command shares. Each parser level gets them, so they work before the verb, between
    a group and its verb, and after it (``jobs health --data-dir D``). Unset, they leave no attribute behind,
    so a later level never erases a value an earlier one set."""
    common = argparse.ArgumentParser(add_help=False)
    options = common.add_argument_group("storage options (anywhere on the command line)")
    options.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="embedded store directory (default: FEED_DATA_DIR or .feed-data)",
    )
    options.add_argument(
        "--org", default=argparse.SUPPRESS, help="organization (default: FEED_ORGANIZATION or 'local')"
    )
    return common


class _Commands:
    """Adds sub-commands that all accept the shared storage options."""

    def __init__(self, parser: argparse.ArgumentParser, dest: str, common: argparse.ArgumentParser) -> None:
        self._sub = parser.add_subparsers(dest=dest, required=True)
        self._common = common

    def add(self, name: str, help: str) -> argparse.ArgumentParser:
        return self._sub.add_parser(name, help=help, parents=[self._common])

    def group(self, name: str, help: str) -> _Commands:
        return _Commands(self.add(name, help), "action", self._common)

    @property
    def without_storage_options(self) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        """For client commands, which talk to a server over HTTP and never open the store."""
        return self._sub


def build_parser() -> argparse.ArgumentParser:
    common = _storage_options()
    parser = argparse.ArgumentParser(
        prog="python -m feed_core", description="A private package feed service.", parents=[common]
    )
    sub = _Commands(parser, "command", common)

    serve = sub.add("serve", help="serve the feed over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=7071)
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument(
        "--with-jobs", action="store_true", help="also run the refresh, health and gc jobs on their schedules"
    )
    serve.set_defaults(func=cmd_serve)

    token = sub.group("token", help="personal access tokens")
    create = token.add("create", help="create a token and print it (once)")
    create.add_argument("--user", required=True)
    create.add_argument(
        "--scope",
        default="vso.packaging",
        help="vso.packaging (read), vso.packaging_write (publish) or vso.packaging_manage",
    )
    create.add_argument("--name", help="display name")
    create.add_argument("--days", type=int, default=90, help="lifetime in days (at most 366)")
    create.add_argument("--json", action="store_true", help="print JSON instead of the bare token")
    create.set_defaults(func=cmd_token_create)
    tlist = token.add("list", help="list a user's tokens")
    tlist.add_argument("--user", required=True)
    tlist.set_defaults(func=cmd_token_list)
    revoke = token.add("revoke", help="revoke a token")
    revoke.add_argument("--user", required=True)
    revoke.add_argument("authorization_id")
    revoke.set_defaults(func=cmd_token_revoke)

    jobs = sub.group("jobs", help="run a timer job once")
    refresh = jobs.add("refresh", help="revalidate upstream metadata of the packages feeds hold")
    refresh.add_argument("--budget", type=float, help="seconds the run may take (default FEED_REFRESH_BUDGET_SECONDS)")
    refresh.set_defaults(func=cmd_jobs)
    health = jobs.add("health", help="probe every enabled upstream and record its health")
    health.set_defaults(func=cmd_jobs)
    gc = jobs.add(
        "gc", help="purge deleted feeds past retention and remove blobs nothing references (older than the grace)"
    )
    gc.add_argument("--dry-run", action="store_true", help="report what would be removed; remove nothing")
    gc.set_defaults(func=cmd_jobs)
    retention = jobs.add(
        "retention", help="move the versions each feed's retention policy no longer keeps to its recycle bin"
    )
    retention.add_argument("--dry-run", action="store_true", help="report what would be removed; remove nothing")
    retention.add_argument(
        "--feed", metavar="NAME", help="only this feed: its name in the organization (--org) and --project"
    )
    retention.add_argument("--project", metavar="NAME", help="with --feed: the feed's project (default: none)")
    retention.set_defaults(func=cmd_jobs)

    reindex = jobs.add(
        "reindex", help="rewrite the package index rows written before they recorded views and origins (web UI)"
    )
    reindex.add_argument("--all", action="store_true", help="rewrite every index row")
    reindex.set_defaults(func=cmd_jobs)

    creds = sub.group("credentials", help="upstream credentials at rest")
    rotate = creds.add(
        "rotate",
        help="re-encrypt every feed's upstream credentials with FEED_CREDENTIALS_KEY (older keys: "
        "FEED_CREDENTIALS_OLD_KEYS)",
    )
    rotate.set_defaults(func=cmd_credentials_rotate)

    feed = sub.group("feed", help="feeds")
    fcreate = feed.add("create", help="create a feed")
    fcreate.add_argument("name")
    fcreate.add_argument("--project")
    fcreate.add_argument("--description")
    fcreate.set_defaults(func=cmd_feed_create)
    flist = feed.add("list", help="list feeds")
    flist.add_argument("--project")
    flist.set_defaults(func=cmd_feed_list)
    fdelete = feed.add("delete", help="delete a feed (it stays restorable in the feed recycle bin)")
    fdelete.add_argument("feed")
    fdelete.add_argument("--project")
    fdelete.set_defaults(func=cmd_feed_delete)
    frestore = feed.add("restore", help="restore a deleted feed from the feed recycle bin")
    frestore.add_argument("feed", help="the deleted feed's name or id")
    frestore.add_argument("--project")
    frestore.set_defaults(func=cmd_feed_restore)

    universal_commands.register(sub.without_storage_options)

    perm = sub.group("permission", help="feed permissions")
    pset = perm.add("set", help="give a user a role in a feed (role 'none' removes it)")
    pset.add_argument("feed")
    pset.add_argument("user")
    pset.add_argument("role", help="reader, collaborator, contributor, administrator or none")
    pset.add_argument("--project")
    pset.set_defaults(func=cmd_permission_set)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except SettingsError as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    except FeedError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
