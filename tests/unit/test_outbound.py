"""The outbound guard's decisions and the bounded decoder, as pure functions: no socket is opened here."""

from __future__ import annotations

import gzip
import zlib

import pytest

from feed_core.domain.outbound import literal_address, parse_networks, refusal
from feed_core.settings import Settings, SettingsError
from feed_core.upstreams.decoding import BoundedDecoder, DecodingError


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.254", "shared (CGNAT)"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fec0::1", "site-local"),
        ("::ffff:10.0.0.1", "private"),  # IPv4-mapped IPv6 is unwrapped
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
        ("0.0.0.0", "unspecified"),  # noqa: S104 - a value checked, not bound
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "private"),  # documentation range
        ("198.18.0.1", "private"),  # benchmarking range
    ],
)
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    assert refusal(address) == kind


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "100.63.255.255", "100.128.0.1"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(address) is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),  # decimal
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0x7f.0.0.1", "127.0.0.1"),  # hexadecimal
        ("0x7f000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),  # short forms
        ("127.0.1", "127.0.0.1"),
        ("10.0x10.1", "10.16.0.1"),
        ("169.254.43518", "169.254.169.254"),
        ("3232235777", "192.168.1.1"),
        ("0", "0.0.0.0"),  # noqa: S104 - a value checked, not bound
        ("127.0.0.1.", "127.0.0.1"),  # trailing dot
        ("[::1]", "::1"),
        ("[::ffff:10.0.0.1]", "::ffff:a00:1"),
    ],
)
def test_odd_spellings_are_read_as_a_resolver_reads_them(host: str, address: str) -> None:
    parsed = literal_address(host)
    assert str(parsed) == address
    assert parsed is not None and refusal(parsed) is not None


@pytest.mark.parametrize("host", ["example.org", "registry.local", "1.2.3.4.5", "08.0.0.1", "256.1.1.1", "0x", "1e3"])
def test_names_are_not_addresses(host: str) -> None:
    assert literal_address(host) is None


def test_allowed_networks_let_an_operator_reach_an_intranet() -> None:
    allowed = parse_networks(["10.20.0.0/16", "::1", "127.0.0.0/8"])
    assert refusal("10.20.3.4", allowed) is None
    assert refusal("::ffff:10.20.3.4", allowed) is None  # the same host, mapped
    assert refusal("10.21.0.1", allowed) == "private"
    assert refusal("::1", allowed) is None and refusal("127.0.0.2", allowed) is None
    assert refusal("169.254.169.254", allowed) == "link-local"


def test_the_allowed_networks_setting_is_validated() -> None:
    s = Settings.from_env({"FEED_UPSTREAM_ALLOWED_NETWORKS": " 10.0.0.0/8 , ::1,"})
    assert s.upstream_allowed_networks == ("10.0.0.0/8", "::1")
    assert [str(n) for n in s.upstream_allowed_network_ranges] == ["10.0.0.0/8", "::1/128"]
    assert Settings.from_env({}).upstream_allowed_network_ranges == ()
    with pytest.raises(SettingsError, match="FEED_UPSTREAM_ALLOWED_NETWORKS: 'intranet' is not"):
        Settings.from_env({"FEED_UPSTREAM_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"})
    with pytest.raises(SettingsError, match="FEED_UPSTREAM_CA_BUNDLE"):
        Settings.from_env({"FEED_UPSTREAM_CA_BUNDLE": "/nonexistent/ca.pem"})


# --- bounded decoding ---------------------------------------------------------------------------------


def _decode(encoding: str, body: bytes, limit: int = 1 << 30, feed: int = 8192) -> tuple[bytes, int]:
    decoder, out, largest = BoundedDecoder(encoding), bytearray(), 0
    for start in range(0, len(body), feed):
        for piece in decoder.feed(body[start : start + feed]):
            largest = max(largest, len(piece))
            out += piece
            if len(out) > limit:
                return bytes(out), largest
    return bytes(out), largest


PLAIN = bytes(range(256)) * 4000 + b"x" * 3_000_000


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(PLAIN)),
        ("x-gzip", gzip.compress(PLAIN)),
        ("gzip", gzip.compress(PLAIN[:1000]) + gzip.compress(PLAIN[1000:])),  # two gzip members
        ("deflate", zlib.compress(PLAIN)),
        ("deflate", _raw_deflate(PLAIN)),  # as some servers send it
        ("identity", PLAIN),
        ("", PLAIN),
    ],
)
def test_decoding_gives_the_body_back_in_bounded_pieces(encoding: str, body: bytes) -> None:
    out, largest = _decode(encoding, body)
    assert out == PLAIN and largest <= 64 * 1024


def test_a_decompression_bomb_is_read_only_up_to_the_bound() -> None:
    bomb = gzip.compress(b"\0" * 300_000_000)  # 300 MB from ~300 KB
    out, largest = _decode("gzip", bomb, limit=1_000_000, feed=len(bomb))  # all of it in one network chunk
    assert 1_000_000 < len(out) <= 1_000_000 + 64 * 1024 and largest <= 64 * 1024


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip", "compress"])
def test_other_and_stacked_encodings_are_refused(encoding: str) -> None:
    with pytest.raises(DecodingError, match="unsupported Content-Encoding"):
        BoundedDecoder(encoding)


def test_corrupt_compressed_data_is_an_error() -> None:
    with pytest.raises(DecodingError, match="corrupt gzip"):
        list(BoundedDecoder("gzip").feed(b"this is not gzip"))
