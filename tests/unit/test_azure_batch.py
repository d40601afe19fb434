"""The Azure transaction body written and read without the SDK's email-based multipart code."""

from __future__ import annotations

import pytest

from feed_core.storage.azure_batch import BatchFailure, BatchOp, decode, encode, entity_json

TABLE = "http://127.0.0.1:10002/devstoreaccount1/things"


def _response(*parts: str) -> tuple[str, bytes]:
    inner = "".join(
        f"--changesetresponse_c\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n{p}\r\n"
        for p in parts
    )
    body = (
        "--batchresponse_b\r\nContent-Type: multipart/mixed; boundary=changesetresponse_c\r\n\r\n"
        f"{inner}--changesetresponse_c--\r\n--batchresponse_b--\r\n"
    )
    return "multipart/mixed; boundary=batchresponse_b", body.encode()


def test_encode_addresses_rows_with_quotes_doubled_and_percent_encoded() -> None:
    body = entity_json({"PartitionKey": "p%2Fx", "RowKey": "it's", "n": 1, "f": 0.5, "s": "é", "b": True})
    ops = [
        BatchOp("POST", "p%2Fx", "v", body),
        BatchOp("PUT", "p%2Fx", "it's", body, 'W/"1"'),
        BatchOp("DELETE", "p%2Fx", "gone", None, "*"),
    ]
    content_type, data = encode(TABLE, ops)
    text = data.decode()
    boundary = content_type.split("boundary=", 1)[1]
    assert text.startswith(f"--{boundary}\r\n") and text.endswith(f"--{boundary}--\r\n")
    assert f"\r\nPOST {TABLE} HTTP/1.1\r\n" in text
    assert f"\r\nPUT {TABLE}(PartitionKey='p%252Fx',RowKey='it%27%27s') HTTP/1.1\r\n" in text
    assert f"\r\nDELETE {TABLE}(PartitionKey='p%252Fx',RowKey='gone') HTTP/1.1\r\n" in text
    assert text.count("If-Match: ") == 2 and 'If-Match: W/"1"' in text
    assert [f"Content-ID: {i}" in text for i in range(3)] == [True, True, True]
    assert '"s": "\\u00e9", "s@odata.type": "Edm.String"' in text
    assert '"f": 0.5, "f@odata.type": "Edm.Double"' in text and '"n": 1,' in text and '"b": true' in text


def test_int64_properties_are_annotated_strings() -> None:
    assert entity_json({"big": 2**40}, frozenset({"big"})) == {"big": str(2**40), "big@odata.type": "Edm.Int64"}


def test_decode_gives_each_rows_etag_in_order() -> None:
    ok = 'HTTP/1.1 201 Created\r\nETag: W/"a"\r\n\r\n'
    deleted = "HTTP/1.1 204 No Content\r\nDataServiceVersion: 1.0;\r\n\r\n"
    content_type, body = _response(ok, deleted)
    assert decode(content_type, body, 2) == ['W/"a"', ""]
    with pytest.raises(ValueError, match="3 operations"):
        decode(content_type, body, 3)


def test_decode_names_the_failed_operation() -> None:
    error = (
        "HTTP/1.1 409 Conflict\r\nContent-Type: application/json;odata=minimalmetadata;charset=utf-8\r\n\r\n"
        '{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US","value":"1:The specified entity '
        'already exists."}}}'
    )
    assert decode(*_response(error), 2) == BatchFailure(
        1, 409, "EntityAlreadyExists", "1:The specified entity already exists."
    )
    # No index in the message (an error of the whole changeset): the first operation.
    failure = decode(*_response("HTTP/1.1 400 Bad Request\r\n\r\nnot json"), 2)
    assert isinstance(failure, BatchFailure) and (failure.index, failure.status, failure.code) == (0, 400, "")
