"""NuGet packages alone: reading .nupkg files and .nuspec documents built here, good and hostile."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import stat
import struct
import warnings
import zipfile

import pytest

from feed_core.domain.errors import BadRequestError, PayloadTooLargeError
from feed_core.domain.nuget_package import (
    MAX_DEPENDENCIES,
    Dependency,
    DependencyGroup,
    NupkgLimits,
    Nuspec,
    check_matches,
    package_hash,
    parse_nuspec,
    read_nupkg,
    v2_dependencies,
)
from feed_core.domain.nuget_versions import parse_range, parse_version
from tests.nupkg_builder import build_nupkg, nuspec, zip_bytes

MiB = 1024 * 1024

FULL_METADATA = """
    <title>Contoso Library</title>
    <owners>contoso, fabrikam</owners>
    <summary>Short.</summary>
    <projectUrl>https://example.test/contoso</projectUrl>
    <licenseUrl>https://example.test/license</licenseUrl>
    <license type="expression">MIT OR Apache-2.0</license>
    <iconUrl>https://example.test/icon.png</iconUrl>
    <icon>images/icon.png</icon>
    <readme>docs/README.md</readme>
    <releaseNotes>Fixed &lt;things&gt;.</releaseNotes>
    <copyright>(c) Contoso</copyright>
    <requireLicenseAcceptance>True</requireLicenseAcceptance>
    <language>en-US</language>
    <packageTypes><packageType name="Dependency" /><packageType name="DotnetTool" version="1.0" /></packageTypes>
"""


def raw_nuspec(metadata: str, *, namespace: str = "", attrs: str = "", prolog: str = "") -> bytes:
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    return f'<?xml version="1.0"?>{prolog}<package{xmlns}><metadata{attrs}>{metadata}</metadata></package>'.encode()


def minimal(extra: str = "", *, package_id: str = "Contoso.Lib", version: str = "1.0.0") -> str:
    return f"<id>{package_id}</id><version>{version}</version><authors>a</authors><description>d</description>{extra}"


def reject(data: bytes, limits: NupkgLimits | None = None) -> str:
    with pytest.raises(BadRequestError) as info:
        read_nupkg(data, limits)
    assert info.value.status == 400
    return info.value.message


def too_large(data: bytes, limits: NupkgLimits | None = None) -> str:
    with pytest.raises(PayloadTooLargeError) as info:
        read_nupkg(data, limits)
    assert info.value.status == 413
    return info.value.message


def nupkg_with_nuspec(xml: bytes) -> bytes:
    return build_nupkg("Contoso.Lib", "1.0.0", nuspec_xml=xml)


def patch_central(data: bytes, member: str, offset: int, value: bytes) -> bytes:
    """Overwrite bytes at ``offset`` in the central directory entry of ``member``."""
    entry = data.rindex(b"PK\x01\x02", 0, data.rindex(member.encode()) + 1)
    return data[: entry + offset] + value + data[entry + offset + len(value) :]


def set_declared_size(data: bytes, member: str, size: int) -> bytes:
    """Rewrite the uncompressed size the central directory declares for ``member``."""
    entry = data.rindex(b"PK\x01\x02", 0, data.rindex(member.encode()) + 1)
    assert data[entry + 46 : entry + 46 + len(member)] == member.encode()
    return patch_central(data, member, 24, struct.pack("<I", size))


# --- good packages ---------------------------------------------------------------------------------


def test_grouped_dependencies_in_a_namespaced_nuspec() -> None:
    data = build_nupkg(
        "Contoso.Lib",
        "1.0.0-Beta",
        dependencies={
            "net45": [("Newtonsoft.Json", "[10.0.3, )"), ("Contoso.Core", "[1.0]")],
            ".NETStandard2.0": [("Contoso.Core", "(1.0,2.0)")],
            None: [],
        },
        description="The library.",
        tags=["contoso", "lib", "contoso"],
    )
    package = read_nupkg(data)
    spec = package.nuspec
    assert spec.id == "Contoso.Lib"
    assert spec.lower_id == "contoso.lib"
    assert spec.version.normalized == "1.0.0-Beta"
    assert spec.version.original == "1.0.0-Beta"
    assert spec.description == "The library."
    assert spec.authors == "tests"
    assert spec.tags == ("contoso", "lib")
    assert [g.target_framework for g in spec.dependency_groups] == ["net45", ".NETStandard2.0", None]
    net45 = spec.dependency_groups[0].dependencies
    assert [(d.id, d.range.normalized if d.range else None) for d in net45] == [
        ("Newtonsoft.Json", "[10.0.3, )"),
        ("Contoso.Core", "[1.0.0, 1.0.0]"),
    ]
    assert spec.dependency_groups[2].dependencies == ()
    assert not spec.is_semver2
    assert package.nuspec_path == "Contoso.Lib.nuspec"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert package.nuspec_bytes == archive.read("Contoso.Lib.nuspec")
    assert not package.is_signed


def test_flat_dependencies_in_a_plain_nuspec() -> None:
    xml = nuspec("Plain", "2.0", dependencies=[("A", "1.0"), ("B", None), ("C", "")], namespace=None)
    spec = read_nupkg(nupkg_with_nuspec(xml)).nuspec
    assert spec.version.normalized == "2.0.0"
    (group,) = spec.dependency_groups
    assert group.target_framework is None
    assert [(d.id, d.range.normalized if d.range else None) for d in group.dependencies] == [
        ("A", "[1.0.0, )"),
        ("B", None),
        ("C", None),
    ]


def test_no_dependencies_means_no_groups() -> None:
    assert read_nupkg(build_nupkg("A", "1.0")).nuspec.dependency_groups == ()
    spec = parse_nuspec(raw_nuspec(minimal("<dependencies />")))
    assert spec.dependency_groups == ()


def test_groups_win_over_a_flat_list_as_in_the_client() -> None:
    xml = raw_nuspec(
        minimal(
            '<dependencies><dependency id="Flat" version="1.0" />'
            '<group targetFramework="net6.0"><dependency id="Grouped" version="2.0" /></group></dependencies>'
        )
    )
    (group,) = parse_nuspec(xml).dependency_groups
    assert group.target_framework == "net6.0"
    assert [d.id for d in group.dependencies] == ["Grouped"]


def test_real_framework_names() -> None:
    names = ["portable-net45+win8+wpa81", ".NETPortable,Version=v0.0,Profile=Profile259", "net5.0-windows10.0.19041"]
    groups = "".join(f'<group targetFramework="{name}"><dependency id="X" /></group>' for name in names)
    spec = parse_nuspec(raw_nuspec(minimal(f"<dependencies>{groups}</dependencies>")))
    assert [group.target_framework for group in spec.dependency_groups] == names
    assert v2_dependencies(spec.dependency_groups).split("|")[1] == "X::.NETPortable,Version=v0.0,Profile=Profile259"


@pytest.mark.parametrize(
    "namespace",
    [
        "",
        "http://schemas.microsoft.com/packaging/2010/07/nuspec.xsd",
        "http://schemas.microsoft.com/packaging/2011/08/nuspec.xsd",
        "http://schemas.microsoft.com/packaging/2012/06/nuspec.xsd",
        "http://schemas.microsoft.com/packaging/2013/01/nuspec.xsd",
        "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd",
    ],
)
def test_every_nuspec_namespace(namespace: str) -> None:
    spec = parse_nuspec(raw_nuspec(minimal('<dependencies><dependency id="X" /></dependencies>'), namespace=namespace))
    assert spec.id == "Contoso.Lib"
    assert spec.dependency_groups[0].dependencies == (Dependency("X", None),)


def test_prefixed_namespace() -> None:
    ns = "http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"
    xml = (
        f'<nu:package xmlns:nu="{ns}">'
        "<nu:metadata><nu:id>P</nu:id><nu:version>1.0</nu:version></nu:metadata></nu:package>"
    )
    assert parse_nuspec(xml.encode()).id == "P"


def test_every_field() -> None:
    xml = raw_nuspec(minimal(FULL_METADATA) + "<tags> a  b\tc </tags>", attrs=' minClientVersion="2.12"')
    spec = parse_nuspec(xml)
    assert spec.title == "Contoso Library"
    assert spec.owners == "contoso, fabrikam"
    assert spec.summary == "Short."
    assert spec.project_url == "https://example.test/contoso"
    assert spec.license_url == "https://example.test/license"
    assert spec.license_expression == "MIT OR Apache-2.0"
    assert spec.license_file is None
    assert spec.icon_url == "https://example.test/icon.png"
    assert spec.icon_file == "images/icon.png"
    assert spec.readme_file == "docs/README.md"
    assert spec.release_notes == "Fixed <things>."
    assert spec.copyright == "(c) Contoso"
    assert spec.require_license_acceptance is True
    assert spec.language == "en-US"
    assert spec.min_client_version == "2.12"
    assert spec.package_types == ("Dependency", "DotnetTool")
    assert spec.tags == ("a", "b", "c")


def test_absent_fields() -> None:
    xml = raw_nuspec("<id>P</id><version>1.0</version>")
    spec = parse_nuspec(xml)
    assert (spec.title, spec.summary, spec.project_url, spec.license_expression) == (None, None, None, None)
    assert (spec.description, spec.authors, spec.owners, spec.tags) == ("", "", "", ())
    assert spec.require_license_acceptance is False
    assert spec.min_client_version is None
    assert spec.package_types == ()


def test_license_file_and_cdata() -> None:
    xml = raw_nuspec(
        minimal('<license type="file">LICENSE.txt</license><releaseNotes><![CDATA[<b>bold</b>]]></releaseNotes>')
    )
    spec = parse_nuspec(xml)
    assert spec.license_file == "LICENSE.txt"
    assert spec.license_expression is None
    assert spec.release_notes == "<b>bold</b>"


def test_utf16_and_latin1_nuspecs() -> None:
    text = (
        '<?xml version="1.0" encoding="utf-16"?>'
        "<package><metadata><id>P</id><version>1.0</version><description>Grüße</description></metadata></package>"
    )
    assert parse_nuspec(text.encode("utf-16")).description == "Grüße"
    latin = text.replace("utf-16", "iso-8859-1").encode("latin-1")
    assert parse_nuspec(latin).description == "Grüße"


def test_unusual_encodings() -> None:
    text = (
        '<?xml version="1.0" encoding="windows-1252"?>'
        "<package><metadata><id>P</id><version>1.0</version><description>café – ok</description></metadata></package>"
    )
    assert parse_nuspec(text.encode("cp1252")).description == "café – ok"
    assert parse_nuspec(b"\xef\xbb\xbf" + text.replace("windows-1252", "utf-8").encode()).description == "café – ok"
    for encoding in ("x-no-such-encoding", "shift_jis"):
        message = reject(nupkg_with_nuspec(text.replace("windows-1252", encoding).encode("cp1252")))
        assert "declares an encoding this feed cannot read" in message
    assert "not well-formed" in reject(nupkg_with_nuspec(text.replace("windows-1252", "utf-8").encode("cp1252")))


def test_symbols_package() -> None:
    types = '<packageTypes><packageType name="SymbolsPackage" /></packageTypes>'
    assert parse_nuspec(raw_nuspec(minimal(types))).is_symbols_package
    assert not parse_nuspec(raw_nuspec(minimal())).is_symbols_package


def test_signed_package() -> None:
    assert read_nupkg(build_nupkg("A", "1.0", signed=True)).is_signed


def test_nuspec_in_a_folder_beside_the_root_one_is_ignored() -> None:
    data = build_nupkg("A", "1.0", extra_files={"content/other.nuspec": b"<not-xml"})
    assert read_nupkg(data).nuspec.id == "A"


def test_semver2_from_version_or_dependency_range() -> None:
    assert read_nupkg(build_nupkg("A", "1.0.0-beta.1")).nuspec.is_semver2
    assert read_nupkg(build_nupkg("A", "1.0.0+sha")).nuspec.is_semver2
    assert read_nupkg(build_nupkg("A", "1.0.0", dependencies=[("B", "[1.0.0-rc.1, )")])).nuspec.is_semver2
    assert not read_nupkg(build_nupkg("A", "1.0.0-beta", dependencies=[("B", "1.0-rc")])).nuspec.is_semver2


def test_floating_dependency_ranges_are_read() -> None:
    spec = read_nupkg(build_nupkg("A", "1.0", dependencies=[("B", "1.*")])).nuspec
    dep_range = spec.dependency_groups[0].dependencies[0].range
    assert dep_range is not None
    assert dep_range.normalized == "[1.0.0, )"


# --- not a package ---------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"hello", b"\x1f\x8b\x08\x00" + b"\x00" * 40, b"PK\x03\x04" + b"\x00" * 30])
def test_not_a_zip(data: bytes) -> None:
    assert "not a zip" in reject(data)


def test_no_nuspec() -> None:
    message = reject(zip_bytes({"lib/net45/a.dll": b"MZ", "readme.txt": b"hi"}))
    assert "no .nuspec at the root" in message
    assert "inside a folder" not in message


def test_nuspec_in_a_folder_only() -> None:
    message = reject(zip_bytes({"package/A.nuspec": nuspec("A", "1.0")}))
    assert "no .nuspec at the root" in message
    assert "'package/A.nuspec', inside a folder" in message


def test_two_nuspecs() -> None:
    data = build_nupkg("A", "1.0", extra_files={"B.NUSPEC": nuspec("B", "1.0")})
    message = reject(data)
    assert "2 .nuspec files at its root" in message
    assert "'A.nuspec'" in message
    assert "'B.NUSPEC'" in message


def test_duplicate_entry_names() -> None:
    raw = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(raw, "w") as archive:
        warnings.simplefilter("ignore")
        archive.writestr("A.nuspec", nuspec("A", "1.0"))
        archive.writestr("A.nuspec", nuspec("Evil", "1.0"))
    assert "'A.nuspec' twice" in reject(raw.getvalue())


# --- hostile XML -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prolog", "body", "expected"),
    [
        ("<!DOCTYPE package>", "", "declares a DTD"),
        ('<!DOCTYPE package [<!ENTITY name "Evil">]>', "&name;", "declares a DTD"),
        ('<!DOCTYPE package [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "&x;", "declares a DTD"),
        ('<!DOCTYPE package SYSTEM "http://127.0.0.1:9/x.dtd">', "", "declares a DTD"),
        ('<!DOCTYPE package [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>', "", "declares a DTD"),
        (
            '<!DOCTYPE package [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>',
            "&d;",
            "declares a DTD",
        ),
    ],
)
def test_dtds_and_entities_are_refused(prolog: str, body: str, expected: str) -> None:
    xml = raw_nuspec(minimal(f"<summary>{body}</summary>"), prolog=prolog)
    message = reject(nupkg_with_nuspec(xml))
    assert expected in message
    assert "which this feed refuses" in message


def test_undeclared_entity_is_not_well_formed() -> None:
    message = reject(nupkg_with_nuspec(raw_nuspec(minimal("<summary>&xxe;</summary>"))))
    assert "not well-formed XML (undefined entity" in message


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (b"", "not well-formed XML (no element found"),
        (b"<package><metadata>", "not well-formed XML"),
        (b"<package><x:metadata/></package>", "unbound prefix"),
        (b"<metadata><id>A</id><version>1.0</version></metadata>", "root element <metadata>, not <package>"),
        (b"<package><id>A</id></package>", "one <metadata> element (it has 0)"),
        (b"<package><metadata/><metadata/></package>", "one <metadata> element (it has 2)"),
        (raw_nuspec("<version>1.0</version>"), "has no <id>"),
        (raw_nuspec("<id> </id><version>1.0</version>"), "has no <id>"),
        (raw_nuspec("<id>A</id>"), "has no <version>"),
        (raw_nuspec("<id>A</id><id>B</id><version>1.0</version>"), "more than one <id>"),
        (raw_nuspec("<id>A</id><version>1.0</version><version>2.0</version>"), "more than one <version>"),
        (raw_nuspec(minimal(package_id="../evil")), "invalid package id '../evil'"),
        (raw_nuspec(minimal(package_id="a..b")), "invalid package id 'a..b'"),
        (raw_nuspec(minimal(version="1.0.0.0.0")), "invalid version '1.0.0.0.0'"),
        (raw_nuspec(minimal(version="banana")), "invalid version 'banana'"),
        (raw_nuspec(minimal(version="1.0.*")), "invalid version '1.0.*'"),
        (raw_nuspec(minimal('<license type="url">x</license>')), "type must be 'expression' or 'file'"),
        (raw_nuspec(minimal(), attrs=' minClientVersion="x"'), "invalid minClientVersion"),
        (raw_nuspec(minimal('<dependencies><dependency version="1.0" /></dependencies>')), "package id is empty"),
        (raw_nuspec(minimal('<dependencies><dependency id="a b" /></dependencies>')), "invalid package id 'a b'"),
        (
            raw_nuspec(minimal('<dependencies><dependency id="B" version="[2.0,1.0]" /></dependencies>')),
            "dependency on B with an invalid version range '[2.0,1.0]'",
        ),
        (
            raw_nuspec(minimal('<dependencies><group targetFramework="' + "n" * 300 + '" /></dependencies>')),
            "targetFramework longer than 256",
        ),
        (raw_nuspec(minimal("<packageTypes><packageType /></packageTypes>")), "<packageType> without a valid name"),
        (
            raw_nuspec(minimal('<dependencies><group targetFramework="net45|Evil:[1.0, )" /></dependencies>')),
            "invalid targetFramework 'net45|Evil:[1.0, )'",
        ),
        (b"<package>" + b"<x>" * 40 + b"</x>" * 40 + b"</package>", "more than 32 deep"),
    ],
)
def test_bad_nuspecs(xml: bytes, expected: str) -> None:
    message = reject(nupkg_with_nuspec(xml))
    assert expected in message
    assert "nuspec" in message


def test_bad_id_message_names_the_nuspec() -> None:
    message = reject(nupkg_with_nuspec(raw_nuspec(minimal(package_id="-bad"))))
    assert message.startswith("the package's .nuspec has an invalid package id '-bad'")


@pytest.mark.parametrize(
    ("field", "limit"), [("description", 64 * 1024), ("releaseNotes", 256 * 1024), ("title", 4000), ("tags", 4000)]
)
def test_field_lengths_are_bounded(field: str, limit: int) -> None:
    fits = raw_nuspec(f"<id>A</id><version>1.0</version><{field}>{'x' * limit}</{field}>")
    parse_nuspec(fits)
    over = raw_nuspec(f"<id>A</id><version>1.0</version><{field}>{'x' * (limit + 1)}</{field}>")
    with pytest.raises(BadRequestError) as info:
        parse_nuspec(over)
    assert f"<{field}> of {limit + 1} characters, more than the {limit}" in info.value.message


def test_dependency_count_is_bounded() -> None:
    deps = [(f"Dep{i}", "1.0") for i in range(MAX_DEPENDENCIES)]
    assert len(parse_nuspec(nuspec("A", "1.0", dependencies=deps)).dependency_groups[0].dependencies) == len(deps)
    grouped = {"net45": deps[: MAX_DEPENDENCIES // 2], "net6.0": [*deps[: MAX_DEPENDENCIES // 2], ("One", "1.0")]}
    with pytest.raises(BadRequestError) as info:
        parse_nuspec(nuspec("A", "1.0", dependencies=grouped))
    assert f"more than the {MAX_DEPENDENCIES} dependencies" in info.value.message


def test_group_count_is_bounded() -> None:
    groups = "".join(f'<group targetFramework="net{i}" />' for i in range(501))
    with pytest.raises(BadRequestError) as info:
        parse_nuspec(raw_nuspec(minimal(f"<dependencies>{groups}</dependencies>")))
    assert "501 dependency groups" in info.value.message


def test_element_count_is_bounded() -> None:
    with pytest.raises(BadRequestError) as info:
        parse_nuspec(raw_nuspec(minimal("<x/>" * 50_001)))
    assert "more than 50000 elements" in info.value.message


# --- hostile zips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../x", "lib/../../x", "/etc/passwd", "\\x", "C:/x", "lib\\..\\..\\x"])
def test_traversal_members(path: str) -> None:
    data = build_nupkg("A", "1.0", extra_files={path: b"x"})
    assert "unsafe path" in reject(data)


def test_symlink_member() -> None:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr("A.nuspec", nuspec("A", "1.0"))
        link = zipfile.ZipInfo("lib/link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    assert "a symbolic link" in reject(raw.getvalue())


def test_high_ratio_member() -> None:
    data = build_nupkg("A", "1.0", extra_files={"lib/zeros.bin": b"\x00" * (2 * MiB)})
    message = too_large(data, NupkgLimits(ratio=100))
    assert "zip bomb" in message
    assert "'lib/zeros.bin'" in message
    read_nupkg(data)  # deflate cannot pass about 1030:1, under the default bound


def test_small_members_are_not_judged_by_ratio() -> None:
    data = build_nupkg("A", "1.0", extra_files={"lib/zeros.bin": b"\x00" * 500_000})
    read_nupkg(data, NupkgLimits(ratio=10))


def test_too_many_members() -> None:
    files = {f"content/{i}.txt": b"" for i in range(20)}
    limits = NupkgLimits(members=10)
    message = too_large(build_nupkg("A", "1.0", extra_files=files), limits)
    assert message == "the package holds more than the 10 files this feed accepts"
    read_nupkg(build_nupkg("A", "1.0", extra_files=dict(list(files.items())[:5])), limits)
    read_nupkg(build_nupkg("A", "1.0", extra_files=dict(list(files.items())[:6])), limits)  # exactly 10


def test_members_are_counted_with_an_archive_comment() -> None:
    raw = io.BytesIO(build_nupkg("A", "1.0", extra_files={f"c/{i}": b"" for i in range(20)}))
    with zipfile.ZipFile(raw, "a") as archive:
        archive.comment = b"a comment after the end record"
    data = raw.getvalue()
    assert not data.endswith(b"\0\0")
    assert "more than the 10 files" in too_large(data, NupkgLimits(members=10))
    assert read_nupkg(data, NupkgLimits(members=24)).nuspec.id == "A"


def test_members_are_counted_in_a_zip64_archive(monkeypatch: pytest.MonkeyPatch) -> None:
    # zipfile writes ZIP64 end records past 65535 entries; lowering its threshold gives the same layout quickly.
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 4)
    data = build_nupkg("A", "1.0", extra_files={f"c/{i}": b"" for i in range(20)})
    monkeypatch.undo()
    assert data.startswith(b"PK\x06\x06", len(data) - 22 - 20 - 56)
    assert "more than the 10 files" in too_large(data, NupkgLimits(members=10))
    assert read_nupkg(data, NupkgLimits(members=24)).nuspec.id == "A"


def test_huge_declared_size() -> None:
    data = set_declared_size(build_nupkg("A", "1.0", extra_files={"lib/big.bin": b"x" * 100}), "lib/big.bin", 2**32 - 1)
    message = too_large(data, NupkgLimits(uncompressed_bytes=1024 * MiB, ratio=10**12))
    assert "add up to" in message
    assert "zip bomb" in message


def test_total_size_bound() -> None:
    data = build_nupkg("A", "1.0", extra_files={"a.bin": b"a" * 3000, "b.bin": b"b" * 3000})
    assert "more than the 5000 this feed accepts" in too_large(data, NupkgLimits(uncompressed_bytes=5000))


def test_oversized_nuspec() -> None:
    data = build_nupkg("A", "1.0", description="x" * 5000)
    message = too_large(data, NupkgLimits(nuspec_bytes=2000))
    assert ".nuspec is larger than 2000 bytes" in message
    with pytest.raises(PayloadTooLargeError):
        parse_nuspec(b"<package>" + b" " * (1 * MiB) + b"</package>")


def test_encrypted_nuspec() -> None:
    data = patch_central(build_nupkg("A", "1.0"), "A.nuspec", 8, struct.pack("<H", 0x1))
    message = reject(data)
    assert "cannot read 'A.nuspec' from the package" in message
    assert "encrypted" in message


def test_unknown_compression_method() -> None:
    data = patch_central(build_nupkg("A", "1.0"), "A.nuspec", 10, struct.pack("<H", 99))
    assert "cannot read 'A.nuspec' from the package" in reject(data)


def test_nuspec_declaring_less_than_it_holds_is_read_bounded() -> None:
    data = build_nupkg("A", "1.0", description="x" * 5000)
    lying = set_declared_size(data, "A.nuspec", 100)
    assert "cannot read 'A.nuspec'" in reject(lying, NupkgLimits(nuspec_bytes=2000))


# --- the stored form and derived values ------------------------------------------------------------


def full_spec() -> Nuspec:
    xml = raw_nuspec(
        minimal(
            FULL_METADATA
            + "<tags>x y</tags>"
            + '<dependencies><group targetFramework="net45"><dependency id="B" version="[1.0.0-beta.1, 2.0)" />'
            '<dependency id="C" /></group><group /></dependencies>',
            version="1.0.0.0-RC.1+git.5",
        ),
        attrs=' minClientVersion="5.0"',
    )
    return parse_nuspec(xml)


def test_json_round_trip() -> None:
    spec = full_spec()
    text = spec.to_json()
    back = Nuspec.from_json(text)
    assert back == spec
    assert back.version.original == "1.0.0.0-RC.1+git.5"
    assert back.version.full == "1.0.0-RC.1+git.5"
    assert back.dependency_groups[0].dependencies[0].range == spec.dependency_groups[0].dependencies[0].range
    assert Nuspec.from_json(text.encode()) == spec
    assert json.loads(text)["id"] == "Contoso.Lib"


@pytest.mark.parametrize(
    "damage",
    [
        lambda doc: doc.pop("id"),
        lambda doc: doc.update(version="not a version"),
        lambda doc: doc.update(title=5),
        lambda doc: doc.update(tags="x y"),
        lambda doc: doc.update(require_license_acceptance="yes"),
        lambda doc: doc.update(dependency_groups=[{"target_framework": None, "dependencies": [{"id": 1}]}]),
    ],
)
def test_damaged_json_is_a_value_error(damage: object) -> None:
    doc = json.loads(full_spec().to_json())
    damage(doc)  # type: ignore[operator]
    with pytest.raises(ValueError, match="stored nuspec is damaged"):
        Nuspec.from_json(json.dumps(doc))


def test_json_size_is_bounded() -> None:
    with pytest.raises(ValueError, match="larger than"):
        Nuspec.from_json("[" * (5 * MiB))
    with pytest.raises(ValueError, match="damaged"):
        Nuspec.from_json("not json")
    with pytest.raises(ValueError, match="damaged"):
        Nuspec.from_json("[" * 100_000)


def test_check_matches() -> None:
    package = read_nupkg(build_nupkg("Contoso.Lib", "1.0"))
    check_matches(package, "contoso.lib", "1.0.0")
    check_matches(package, "CONTOSO.LIB", "1.0.0.0")
    with pytest.raises(BadRequestError, match=r"URL names Other 1\.0\.0 but the package's \.nuspec says Contoso\.Lib"):
        check_matches(package, "Other", "1.0.0")
    with pytest.raises(BadRequestError, match=r"says Contoso\.Lib 1\.0\.0"):
        check_matches(package, "Contoso.Lib", "1.0.1")
    with pytest.raises(BadRequestError, match="invalid version"):
        check_matches(package, "Contoso.Lib", "x")


def test_package_hash() -> None:
    data = build_nupkg("A", "1.0")
    assert package_hash(data) == base64.b64encode(hashlib.sha512(data).digest()).decode()
    assert len(base64.b64decode(package_hash(data))) == 64


def test_v2_dependencies() -> None:
    groups = (
        DependencyGroup("net45", (Dependency("B", parse_range("1.0")), Dependency("C", None))),
        DependencyGroup("netstandard2.0", ()),
        DependencyGroup(None, (Dependency("D", parse_range("[1.0,2.0)")),)),
        DependencyGroup(None, ()),
    )
    assert v2_dependencies(groups) == "B:[1.0.0, ):net45|C::net45|::netstandard2.0|D:[1.0.0, 2.0.0):"
    assert v2_dependencies(()) == ""


def test_builder_is_deterministic() -> None:
    assert build_nupkg("A", "1.0", tags=["t"]) == build_nupkg("A", "1.0", tags=["t"])
    assert parse_version("1.0") == read_nupkg(build_nupkg("A", "1.0")).nuspec.version
