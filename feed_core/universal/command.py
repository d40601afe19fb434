"""``python -m feed_core universal publish|download``: the options of ``az artifacts universal``.

The token comes from ``AZURE_DEVOPS_EXT_PAT``, the Azure CLI's variable, never from the command line
(where other users of the machine could read it). Without it the requests go unauthenticated (a feed that
allows anonymous reads).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from feed_core.universal.client import UniversalError, locate
from feed_core.universal.download import download
from feed_core.universal.publish import publish

TOKEN_VARIABLE = "AZURE_DEVOPS_EXT_PAT"  # noqa: S105 (the variable's name)


def add_feed_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--organization", required=True, help="the organization's URL, such as http://127.0.0.1:7071/myorg"
    )
    parser.add_argument("--project", help="the project of a project-scoped feed")
    parser.add_argument("--scope", choices=("organization", "project"), help="the feed's scope")
    parser.add_argument("--feed", required=True, help="the feed's name (feed@view to read through a view)")
    parser.add_argument("--name", required=True, help="the package name (lower-case)")
    parser.add_argument("--version", required=True, help="a SemVer 2 version; download also takes 1.* or *")
    parser.add_argument("--path", required=True, help="the directory to publish, or to download into")
    parser.add_argument("--parallel", type=int, default=8, help="chunks transferred at once (default 8)")


def cmd_publish(args: argparse.Namespace) -> int:
    location = locate(args.organization, args.feed, args.project, args.scope)
    report = asyncio.run(
        publish(
            location,
            os.environ.get(TOKEN_VARIABLE) or None,
            args.name,
            args.version,
            Path(args.path),
            description=args.description,
            parallel=_parallel(args),
        )
    )
    print(report.summary())
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    location = locate(args.organization, args.feed, args.project, args.scope)
    report = asyncio.run(
        download(
            location,
            os.environ.get(TOKEN_VARIABLE) or None,
            args.name,
            args.version,
            Path(args.path),
            parallel=_parallel(args),
        )
    )
    print(report.summary())
    return 0


def _parallel(args: argparse.Namespace) -> int:
    if not 1 <= args.parallel <= 64:
        raise UniversalError("--parallel must be from 1 to 64")
    return int(args.parallel)


def run(args: argparse.Namespace) -> int:
    """Run the chosen command; its failures are one line on stderr and exit code 1."""
    try:
        try:
            return cmd_publish(args) if args.action == "publish" else cmd_download(args)
        except BaseExceptionGroup as group:  # from parallel transfers: the first failure says enough
            raise _first(group) from None
    except UniversalError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


HELP = "publish and download Universal Packages (az artifacts universal)"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``universal`` to the full command line (``python -m feed_core --help`` lists it)."""
    add_actions(sub.add_parser("universal", help=HELP))


def main(argv: list[str]) -> int:
    """``python -m feed_core universal ...`` without importing the server: a client command starts in a
    fraction of the time the whole command line takes to import."""
    parser = argparse.ArgumentParser(prog="python -m feed_core universal", description=HELP)
    add_actions(parser)
    args = parser.parse_args(argv)
    return run(args)


def add_actions(universal: argparse.ArgumentParser) -> None:
    actions = universal.add_subparsers(dest="action", required=True)
    pub = actions.add_parser("publish", help="publish a directory as a new version of a Universal Package")
    add_feed_options(pub)
    pub.add_argument("--description", help="a description of the version")
    pub.set_defaults(func=run)
    down = actions.add_parser("download", help="download a version (or the highest matching 1.*, *)")
    add_feed_options(down)
    down.set_defaults(func=run)
