"""Search over HTTP, and the OpenAI embedding path end to end (respx at the network edge)."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from functions._shared.settings import Settings
from gateway.app import create_app
from tests._shared.pii_cases import PERSONAL_DATA_CASES
from tests.conftest import running_client
from tests.embed.conftest import indexed
from tests.embed.factories import SHIPPING_TEXT, unique_marker

OPENAI_EMBEDDINGS = "https://api.openai.com/v1/embeddings"


async def test_search_finds_a_paraphrased_korean_question(
    api: httpx.AsyncClient, admin: dict[str, str], agent: dict[str, str]
) -> None:
    marker = unique_marker()
    created = (
        await api.post(
            "/embed/documents",
            json={"title": f"배송 기간 안내 {marker}", "content": f"{SHIPPING_TEXT}\n{marker}"},
            headers=admin,
        )
    ).json()
    await indexed(api, created["id"], admin)

    response = await api.post(
        "/embed/search", json={"query": f"{marker} 택배 언제 와요?", "k": 3}, headers=agent
    )

    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0]["document_id"] == created["id"]
    assert set(results[0]) >= {"document_id", "title", "chunk_id", "text", "score"}
    assert 0 < results[0]["score"] <= 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"query": ""}, 422),
        ({"query": "   "}, 422),
        ({"query": "배송", "k": 0}, 422),
        ({"query": "배송", "k": 10_000}, 422),
        ({"query": "x" * 5000}, 422),
    ],
)
async def test_bad_search_is_422(
    api: httpx.AsyncClient, agent: dict[str, str], body: dict[str, Any], status: int
) -> None:
    response = await api.post("/embed/search", json=body, headers=agent)

    assert response.status_code == status


@pytest.fixture
def openai_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "openai_api_key": SecretStr("sk-test"),
            "embedding_provider": "openai",
            "openai_max_retries": 1,
            "job_max_attempts": 1,
        }
    )


@pytest.fixture
async def openai_api(openai_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_client(create_app(openai_settings)) as client:
        yield client


def fake_embeddings(request: httpx.Request) -> httpx.Response:
    inputs = json.loads(request.content)["input"]
    dimensions = json.loads(request.content)["dimensions"]
    vector = [1.0] + [0.0] * (dimensions - 1)
    return httpx.Response(
        200,
        json={
            "object": "list",
            "model": "text-embedding-3-small",
            "data": [
                {"object": "embedding", "index": index, "embedding": vector}
                for index, _ in enumerate(inputs)
            ],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        },
    )


async def test_openai_persistent_500_ends_as_failed_with_the_error(
    openai_api: httpx.AsyncClient, admin: dict[str, str], respx_mock: respx.MockRouter
) -> None:
    respx_mock.post(OPENAI_EMBEDDINGS).respond(500, json={"error": {"message": "boom"}})

    created = await openai_api.post(
        "/embed/documents",
        json={"title": f"실패 {unique_marker()}", "content": SHIPPING_TEXT + unique_marker()},
        headers=admin,
    )

    document = await indexed(openai_api, created.json()["id"], admin)
    assert document["status"] == "failed"
    assert document["error"]
    assert "sk-test" not in document["error"]


async def test_no_personal_data_reaches_the_openai_embedder(
    openai_api: httpx.AsyncClient, admin: dict[str, str], respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(OPENAI_EMBEDDINGS).mock(side_effect=fake_embeddings)
    sentences = "\n".join(text for text, _, _ in PERSONAL_DATA_CASES)

    created = await openai_api.post(
        "/embed/documents",
        json={"title": f"개인정보 {unique_marker()}", "content": f"{SHIPPING_TEXT}\n{sentences}"},
        headers=admin,
    )

    document = await indexed(openai_api, created.json()["id"], admin)
    assert document["status"] == "ready"
    sent = "\n".join(
        text for call in route.calls for text in json.loads(call.request.content)["input"]
    )
    assert route.call_count >= 1
    assert [raw for _, _, raw in PERSONAL_DATA_CASES if raw in sent] == []
