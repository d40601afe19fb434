"""Build real wheels and sdists, and the multipart upload body twine sends, for tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zipfile


def core_metadata(
    name: str,
    version: str,
    *,
    requires_python: str = ">=3.8",
    requires: tuple[str, ...] = (),
    summary: str = "a test package",
    description: str = "Long description.\n",
    content_type: str = "",
) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    if content_type:
        lines.append(f"Description-Content-Type: {content_type}")
    lines += [f"Requires-Dist: {r}" for r in requires]
    return ("\n".join(lines) + "\n\n" + description).encode()


def make_wheel(
    name: str,
    version: str,
    *,
    module: str | None = None,
    code: str = "VALUE = 42\n",
    requires_python: str = ">=3.8",
    requires: tuple[str, ...] = (),
    description: str = "Long description.\n",
    content_type: str = "",
) -> tuple[str, bytes, bytes]:
    """(filename, wheel bytes, METADATA bytes) of a pure-Python wheel importable as ``module``."""
    dist = name.replace("-", "_").replace(".", "_")
    module = module or dist.lower()
    metadata = core_metadata(
        name,
        version,
        requires_python=requires_python,
        requires=requires,
        description=description,
        content_type=content_type,
    )
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": code.encode(),
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},sha256={_b64(data)},{len(data)}\n" for path, data in files.items()) + f"{info}/RECORD,,\n"
    files[f"{info}/RECORD"] = record.encode()
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return f"{dist}-{version}-py3-none-any.whl", raw.getvalue(), metadata


def make_sdist(name: str, version: str, *, requires_python: str = ">=3.8") -> tuple[str, bytes, bytes]:
    dist = name.replace("-", "_").replace(".", "_").lower()
    metadata = core_metadata(name, version, requires_python=requires_python)
    top = f"{dist}-{version}"
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for path, data in {f"{top}/PKG-INFO": metadata, f"{top}/setup.py": b"# nothing\n"}.items():
            ti = tarfile.TarInfo(path)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return f"{top}.tar.gz", raw.getvalue(), metadata


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def upload_form(
    name: str, version: str, filename: str, data: bytes, /, **overrides: str
) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    """(fields, files) as twine sends them, for httpx's ``data=`` and ``files=``."""
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": name,
        "version": version,
        "filetype": "bdist_wheel" if filename.endswith(".whl") else "sdist",
        "pyversion": "py3" if filename.endswith(".whl") else "source",
        "metadata_version": "2.1",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        **overrides,
    }
    return fields, {"content": (filename, data, "application/octet-stream")}
