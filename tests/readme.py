"""Reading the README's shell examples, so tests can check them and run them as a reader would paste them."""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def text() -> str:
    return README.read_text()


def flat() -> str:
    """The README with every run of whitespace one space, to find a sentence whatever its line breaks."""
    return " ".join(text().split())


def section(heading: str) -> str:
    """The text under a ``##``/``###`` heading, up to the next heading of any level (``#`` lines of code blocks
    are not headings)."""
    lines = text().splitlines()
    fenced = [False] * len(lines)
    inside = False
    for i, line in enumerate(lines):
        if line.strip().startswith("```"):
            inside = not inside
        fenced[i] = inside
    headings = [i for i, line in enumerate(lines) if not fenced[i] and re.match(r"#+ ", line)]
    start = next(i for i in headings if re.fullmatch(rf"#+ {re.escape(heading)}", lines[i]))
    end = next((i for i in headings if i > start), len(lines))
    return "\n".join(lines[start + 1 : end])


_SH_BLOCK = r"^([ \t]*)```sh\n(.*?)^\1```$"


def sh_blocks(source: str) -> list[str]:
    """The ```sh blocks of ``source``, dedented (blocks inside list items are indented)."""
    return [textwrap.dedent(m.group(2)) for m in re.finditer(_SH_BLOCK, source, flags=re.M | re.S)]


def block_after(source: str, words: str) -> str:
    """The first ```sh block after ``words`` (found whatever its line breaks) in ``source``."""
    found = re.search(r"\s+".join(re.escape(w) for w in words.split()), source)
    assert found is not None, f"the README does not say {words!r}"
    for m in re.finditer(_SH_BLOCK, source, flags=re.M | re.S):
        if m.start() > found.end():
            return textwrap.dedent(m.group(2))
    raise AssertionError(f"no sh block after {words!r}")


def commands(block: str) -> list[list[str]]:
    """The shell commands of a block as words (comments dropped), a command going on over backslash-newlines
    and over newlines inside quotes, as a shell reads it."""
    out: list[list[str]] = []
    pending = ""
    for line in block.splitlines():
        pending += line + "\n"
        if line.endswith("\\"):
            continue
        try:
            words = shlex.split(pending.replace("\\\n", " "), comments=True)
        except ValueError:  # a quote is still open
            continue
        if words:
            out.append(words)
        pending = ""
    assert not pending.strip(), f"unterminated command: {pending!r}"
    return out


@dataclass
class Curl:
    """One curl command of the README, its ``$VARIABLES`` filled in."""

    method: str
    url: str
    user: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    data: str | None = None

    @property
    def body(self) -> Any:
        return None if self.data is None else json.loads(self.data)

    @property
    def token(self) -> str | None:
        return None if self.user is None else self.user.partition(":")[2]


def fill(word: str, variables: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced; an unknown name is a test failure, never an empty string."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        assert name in variables, f"the README uses ${name}, which the test did not set"
        return variables[name]

    return re.sub(r"\$\{([A-Z_]+)\}|\$([A-Z_]+)", one, word)


def curls(block: str, variables: dict[str, str]) -> list[Curl]:
    """Every curl of a block; ``NAME=value`` lines in it set variables for the commands after them."""
    out = []
    variables = dict(variables)
    for words in commands(block):
        if len(words) == 1 and re.fullmatch(r"[A-Z_]+=\S+", words[0]):
            name, _, value = words[0].partition("=")
            variables[name] = fill(value, variables)
            continue
        if words[0] != "curl":
            continue
        call = Curl(method="", url="")
        args = iter(fill(w, variables) for w in words[1:])
        for arg in args:
            if arg == "-u":
                call.user = next(args)
            elif arg == "-X":
                call.method = next(args)
            elif arg == "-H":
                key, _, value = next(args).partition(":")
                call.headers[key.strip()] = value.strip()
            elif arg == "-d":
                call.data = next(args)
            elif arg.startswith("http"):
                call.url = arg
            elif arg == "|":
                break
            else:
                assert arg in ("-s", "-i", "-si"), f"a curl option the test does not know: {arg}"
        call.method = call.method or ("POST" if call.data is not None else "GET")
        out.append(call)
    return out
