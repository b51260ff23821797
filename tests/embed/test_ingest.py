"""Creating documents over HTTP: every format, duplicates, bad input, roles."""

from typing import Any

import asyncpg
import httpx
import pytest

from tests.embed.conftest import indexed
from tests.embed.factories import SHIPPING_TEXT, document_json, minimal_pdf, unique_marker


async def document_count(sql: asyncpg.Connection) -> int:
    count: int = await sql.fetchval("select count(*) from kb_documents")
    return count


async def test_json_document_is_accepted_then_indexed(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await api.post("/embed/documents", json=document_json(), headers=admin)

    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "queued"
    assert accepted["duplicate"] is False
    document = await indexed(api, accepted["id"], admin)
    assert document["status"] == "ready"
    assert document["chunk_count"] >= 1
    assert document["version"] == 1


HTML_PAGE = (
    "<html><head><title>배송</title><script>track()</script></head>"
    "<body><h1>배송 기간</h1><p>{text}</p></body></html>"
)


@pytest.mark.parametrize(
    ("filename", "template", "encoding"),
    [
        ("shipping.txt", "{text}", "utf-8"),
        ("shipping.md", "{text}", "utf-8"),
        ("shipping-legacy.txt", "{text}", "cp949"),
        ("shipping.html", HTML_PAGE, "utf-8"),
    ],
)
async def test_uploaded_text_file_is_indexed(
    api: httpx.AsyncClient, admin: dict[str, str], filename: str, template: str, encoding: str
) -> None:
    text = f"{SHIPPING_TEXT}\n{unique_marker()}"
    response = await api.post(
        "/embed/documents",
        files={"file": (filename, template.format(text=text).encode(encoding))},
        headers=admin,
    )

    assert response.status_code == 202, response.text
    document = await indexed(api, response.json()["id"], admin)
    assert document["status"] == "ready"
    assert document["source_filename"] == filename


async def test_uploaded_pdf_is_indexed(api: httpx.AsyncClient, admin: dict[str, str]) -> None:
    marker = unique_marker().encode("ascii", "ignore").decode() + "pdfmarker"
    pdf = minimal_pdf(f"Delivery takes two to three days {marker}")

    response = await api.post(
        "/embed/documents", files={"file": ("policy.pdf", pdf, "application/pdf")}, headers=admin
    )

    assert response.status_code == 202, response.text
    document = await indexed(api, response.json()["id"], admin)
    assert document["status"] == "ready"
    assert document["content_type"] == "application/pdf"


async def test_identical_reingest_creates_nothing(
    api: httpx.AsyncClient, admin: dict[str, str], sql: asyncpg.Connection
) -> None:
    body = document_json()
    first = (await api.post("/embed/documents", json=body, headers=admin)).json()
    documents, jobs = await document_count(sql), await sql.fetchval("select count(*) from jobs")

    second = await api.post("/embed/documents", json=body, headers=admin)

    assert second.status_code == 202
    assert second.json()["id"] == first["id"]
    assert second.json()["duplicate"] is True
    assert await document_count(sql) == documents
    assert await sql.fetchval("select count(*) from jobs") == jobs


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"title": "빈 문서", "content": ""}, "invalid_input"),
        ({"title": "공백 문서", "content": "  \n\t  "}, "empty_content"),
        ({"title": "제목" * 5000, "content": SHIPPING_TEXT}, "title_too_long"),
        ({"title": "   ", "content": SHIPPING_TEXT}, "empty_title"),
        ({"content": SHIPPING_TEXT}, "invalid_input"),
        ({"title": "널 문자", "content": "\x00\x00"}, "empty_content"),
    ],
)
async def test_bad_json_document_is_422_and_stores_nothing(
    api: httpx.AsyncClient,
    admin: dict[str, str],
    sql: asyncpg.Connection,
    body: dict[str, Any],
    code: str,
) -> None:
    before = await document_count(sql)

    response = await api.post("/embed/documents", json=body, headers=admin)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert await document_count(sql) == before


@pytest.mark.parametrize(
    ("filename", "content", "status", "code"),
    [
        ("report.docx", b"PK\x03\x04 not supported", 415, "unsupported_file_type"),
        ("program.exe", b"MZ\x90\x00", 415, "unsupported_file_type"),
        ("broken.pdf", b"%PDF-1.4\n this is not a pdf at all", 422, "unreadable_file"),
        ("empty.txt", b"   \n  ", 422, "empty_content"),
        ("binary.txt", bytes(range(128, 256)) * 4, 422, "unreadable_file"),
    ],
)
async def test_bad_upload_is_4xx_and_stores_nothing(
    api: httpx.AsyncClient,
    admin: dict[str, str],
    sql: asyncpg.Connection,
    filename: str,
    content: bytes,
    status: int,
    code: str,
) -> None:
    before = await document_count(sql)

    response = await api.post(
        "/embed/documents", files={"file": (filename, content)}, headers=admin
    )

    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert await document_count(sql) == before


async def test_upload_over_the_size_limit_is_413_and_stores_nothing(
    api: httpx.AsyncClient, admin: dict[str, str], sql: asyncpg.Connection
) -> None:
    before = await document_count(sql)
    fifty_megabytes = b"a" * (50 * 1024 * 1024)

    response = await api.post(
        "/embed/documents", files={"file": ("huge.txt", fifty_megabytes)}, headers=admin
    )

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert await document_count(sql) == before


async def test_unsupported_request_content_type_is_415(
    api: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await api.post(
        "/embed/documents", content=b"title=x", headers={**admin, "content-type": "text/plain"}
    )

    assert response.status_code == 415


@pytest.mark.parametrize(
    ("role", "method", "path", "status"),
    [
        ("agent", "POST", "/embed/documents", 403),
        ("customer", "GET", "/embed/documents", 403),
        ("agent", "GET", "/embed/documents", 200),
        ("service", "GET", "/embed/documents", 200),
        ("agent", "POST", "/embed/reprocess", 403),
        ("service", "POST", "/embed/search", 403),
        ("customer", "POST", "/embed/search", 403),
    ],
)
async def test_role_matrix(
    api: httpx.AsyncClient, token_for: Any, role: str, method: str, path: str, status: int
) -> None:
    body: dict[str, Any] = {"query": "배송"} if path.endswith("search") else document_json()
    response = await api.request(
        method,
        path,
        json=body if method == "POST" else None,
        headers={"Authorization": f"Bearer {token_for(role)}"},
    )

    assert response.status_code == status
