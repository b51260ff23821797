import asyncio
import json
import math
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import respx
from pydantic import SecretStr

from functions._shared.kb.embedders import (
    EmbeddingError,
    LocalHashingEmbedder,
    OpenAIEmbedder,
    build_embedder,
    estimate_tokens,
)
from functions._shared.settings import Settings

OPENAI_EMBEDDINGS = "https://api.openai.com/v1/embeddings"
FAST_RETRY = {"retry-after-ms": "1"}
DELIVERY_QUESTION = "택배 언제 와요?"
DELIVERY_ARTICLE = "배송 기간 안내: 배송은 결제 후 보통 2~3일 걸립니다."
UNRELATED_ARTICLES = [
    "적립금은 결제할 때 현금처럼 사용할 수 있습니다.",
    "회원 탈퇴는 마이페이지의 계정 설정에서 할 수 있습니다.",
    "비밀번호를 잊으셨다면 로그인 화면에서 재설정해 주세요.",
]


def make_settings(**values: Any) -> Settings:
    defaults: dict[str, Any] = {
        "openai_api_key": SecretStr("sk-test"),
        "openai_base_url": None,
        "openai_max_retries": 2,
        "openai_timeout_seconds": 5.0,
        "embedding_provider": None,
        "embedding_model": "text-embedding-3-small",
        "embedding_dimensions": 64,
        "embedding_batch_size": 256,
        "embedding_max_tokens_per_request": 300_000,
        "embedding_concurrency": 4,
    }
    return Settings(_env_file=None, **(defaults | values))  # type: ignore[call-arg]


def cosine(left: list[float], right: list[float]) -> float:
    return float(np.dot(left, right) / (np.linalg.norm(left) * np.linalg.norm(right)))


def inputs_of(request: httpx.Request) -> list[str]:
    inputs: list[str] = json.loads(request.content)["input"]
    return inputs


def embeddings_response(request: httpx.Request, *, shuffle: bool = False) -> httpx.Response:
    body = json.loads(request.content)
    # Each vector encodes its input's length, so a test can tell which input it belongs to.
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": [float(len(text))] + [0.0] * (body["dimensions"] - 1),
        }
        for index, text in enumerate(body["input"])
    ]
    if shuffle:
        data = data[1::2][::-1] + data[::2]
    return httpx.Response(
        200,
        json={
            "object": "list",
            "model": body["model"],
            "data": data,
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        },
    )


# Local


async def test_local_vectors_have_the_configured_size_and_unit_length() -> None:
    embedder = LocalHashingEmbedder(512)

    vectors = await embedder.embed_documents([DELIVERY_QUESTION, *UNRELATED_ARTICLES])

    assert embedder.name == "local-hash-v1:512"
    assert all(len(vector) == 512 for vector in vectors)
    assert all(math.isclose(float(np.linalg.norm(vector)), 1.0, rel_tol=1e-5) for vector in vectors)


async def test_local_embedding_is_deterministic_across_instances() -> None:
    first = await LocalHashingEmbedder(256).embed_documents([DELIVERY_ARTICLE])
    second = await LocalHashingEmbedder(256).embed_documents([DELIVERY_ARTICLE])

    assert first == second


async def test_a_query_is_embedded_like_a_document() -> None:
    embedder = LocalHashingEmbedder(128)

    assert (
        await embedder.embed_query(DELIVERY_QUESTION)
        == (await embedder.embed_documents([DELIVERY_QUESTION]))[0]
    )


async def test_a_colloquial_question_is_closer_to_its_answer_than_to_other_articles() -> None:
    embedder = LocalHashingEmbedder(512)
    question = await embedder.embed_query(DELIVERY_QUESTION)
    article, *unrelated = await embedder.embed_documents([DELIVERY_ARTICLE, *UNRELATED_ARTICLES])

    related_score = cosine(question, article)

    assert related_score > 0.3
    assert all(related_score > cosine(question, other) + 0.2 for other in unrelated)


async def test_text_without_letters_still_gets_a_unit_vector() -> None:
    [vector] = await LocalHashingEmbedder(64).embed_documents(["?! 😀 ..."])

    assert math.isclose(float(np.linalg.norm(vector)), 1.0, rel_tol=1e-5)


@pytest.mark.parametrize("blank", ["", "  \n "])
async def test_blank_text_is_refused_by_the_local_embedder(blank: str) -> None:
    with pytest.raises(ValueError, match="blank"):
        await LocalHashingEmbedder(64).embed_documents(["배송", blank])


async def test_many_texts_are_embedded_in_order() -> None:
    embedder = LocalHashingEmbedder(64)
    texts = [f"{index}번 주문의 배송 상태" for index in range(600)]

    together = await embedder.embed_documents(texts)
    alone = [await embedder.embed_query(texts[index]) for index in (0, 299, 599)]

    assert [together[0], together[299], together[599]] == alone


def test_build_embedder_chooses_by_the_provider_setting() -> None:
    assert isinstance(build_embedder(make_settings(openai_api_key=None)), LocalHashingEmbedder)
    assert isinstance(build_embedder(make_settings()), OpenAIEmbedder)
    assert isinstance(
        build_embedder(make_settings(embedding_provider="local")), LocalHashingEmbedder
    )


# OpenAI


def test_openai_embedder_name_carries_the_model_and_size() -> None:
    embedder = OpenAIEmbedder(make_settings(embedding_model="text-embedding-3-large"))

    assert embedder.name == "openai:text-embedding-3-large:64"
    assert embedder.dimensions == 64


def test_the_token_estimate_never_undercounts_byte_level_tokens() -> None:
    assert estimate_tokens("배송") == 6
    assert estimate_tokens("abc") == 3


async def test_requests_are_cut_by_the_input_count(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(OPENAI_EMBEDDINGS).mock(side_effect=embeddings_response)
    embedder = OpenAIEmbedder(make_settings(embedding_batch_size=3))
    texts = [f"문서 {'가' * index}" for index in range(7)]

    vectors = await embedder.embed_documents(texts)

    # Requests run concurrently and may arrive in any order.
    assert sorted(len(inputs_of(call.request)) for call in route.calls) == [1, 3, 3]
    assert [vector[0] for vector in vectors] == [float(len(text)) for text in texts]


async def test_requests_are_cut_by_the_token_budget(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(OPENAI_EMBEDDINGS).mock(side_effect=embeddings_response)
    embedder = OpenAIEmbedder(make_settings(embedding_max_tokens_per_request=1000))
    # 150 syllables: 450 bytes, so two fit in a 1,000-token request and three do not.
    texts = ["배" * 150 for _ in range(5)]

    await embedder.embed_documents(texts)

    assert sorted(len(inputs_of(call.request)) for call in route.calls) == [1, 2, 2]
    assert all(
        sum(estimate_tokens(text) for text in inputs_of(call.request)) <= 1000
        for call in route.calls
    )


async def test_the_model_and_dimensions_are_sent(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(OPENAI_EMBEDDINGS).mock(side_effect=embeddings_response)
    embedder = OpenAIEmbedder(make_settings(embedding_dimensions=256))

    [vector] = await embedder.embed_documents(["배송 기간"])

    body = json.loads(route.calls.last.request.content)
    assert body["model"] == "text-embedding-3-small"
    assert body["dimensions"] == 256
    assert len(vector) == 256
    assert route.calls.last.request.headers["authorization"] == "Bearer sk-test"


async def test_shuffled_results_are_put_back_in_input_order(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(OPENAI_EMBEDDINGS).mock(
        side_effect=lambda request: embeddings_response(request, shuffle=True)
    )
    texts = ["가" * length for length in range(1, 9)]

    vectors = await OpenAIEmbedder(make_settings()).embed_documents(texts)

    assert [vector[0] for vector in vectors] == [float(length) for length in range(1, 9)]


async def test_a_rate_limit_is_retried_by_the_sdk(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(OPENAI_EMBEDDINGS).mock(
        side_effect=[
            httpx.Response(
                429,
                headers=FAST_RETRY,
                json={"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
            ),
            embeddings_response,
        ]
    )

    vectors = await OpenAIEmbedder(make_settings(openai_max_retries=1)).embed_documents(["배송"])

    assert route.call_count == 2
    assert len(vectors) == 1


async def test_a_persistent_server_error_raises_embedding_error(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(OPENAI_EMBEDDINGS).respond(
        500, headers=FAST_RETRY, json={"error": {"message": "The server had an error"}}
    )

    with pytest.raises(EmbeddingError) as raised:
        await OpenAIEmbedder(make_settings(openai_max_retries=2)).embed_documents(["배송"])

    assert route.call_count == 3
    assert "status 500" in str(raised.value)
    assert raised.value.status == 503
    assert raised.value.__cause__ is None


async def test_an_authentication_error_does_not_echo_the_key(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(OPENAI_EMBEDDINGS).respond(
        401,
        json={
            "error": {
                "message": "Incorrect API key provided: sk-test. You can find your API key at ...",
                "code": "invalid_api_key",
            }
        },
    )

    with pytest.raises(EmbeddingError) as raised:
        await OpenAIEmbedder(make_settings()).embed_documents(["배송"])

    assert "sk-test" not in str(raised.value)
    assert "invalid_api_key" in str(raised.value)


async def test_a_connection_failure_raises_embedding_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(OPENAI_EMBEDDINGS).mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(EmbeddingError, match="APIConnectionError"):
        await OpenAIEmbedder(make_settings(openai_max_retries=0)).embed_documents(["배송"])


async def test_a_short_answer_from_the_server_raises_embedding_error(
    respx_mock: respx.MockRouter,
) -> None:
    def one_vector_too_few(request: httpx.Request) -> httpx.Response:
        response = embeddings_response(request)
        body = json.loads(response.content)
        body["data"] = body["data"][:-1]
        return httpx.Response(200, json=body)

    respx_mock.post(OPENAI_EMBEDDINGS).mock(side_effect=one_vector_too_few)

    with pytest.raises(EmbeddingError, match="expected 2 vectors"):
        await OpenAIEmbedder(make_settings()).embed_documents(["배송", "반품"])


async def test_personal_data_never_reaches_openai(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(OPENAI_EMBEDDINGS).mock(side_effect=embeddings_response)
    raw_values = ["010-1234-5678", "kim.minsu@example.com", "4111-1111-1111-1111"]
    texts = [
        "배송 문의: 연락처 010-1234-5678로 전화 주세요.",
        "영수증은 kim.minsu@example.com 으로 보내 주세요.",
        "결제 카드 4111-1111-1111-1111 로 환불해 주세요.",
    ]

    await OpenAIEmbedder(make_settings(embedding_batch_size=2)).embed_documents(texts)
    await OpenAIEmbedder(make_settings()).embed_query(texts[0])

    sent = [call.request.content.decode() for call in route.calls]
    assert len(sent) == 3
    assert [raw for raw in raw_values for body in sent if raw in body] == []
    assert [raw for raw in raw_values for body in sent if raw.replace("-", "") in body] == []


@pytest.mark.parametrize("blank", ["", "   "])
async def test_blank_text_is_never_sent(respx_mock: respx.MockRouter, blank: str) -> None:
    with pytest.raises(ValueError, match="blank"):
        await OpenAIEmbedder(make_settings()).embed_documents(["배송", blank])

    assert respx_mock.calls.call_count == 0


async def test_no_more_requests_than_the_concurrency_are_in_flight(
    respx_mock: respx.MockRouter,
) -> None:
    in_flight = 0
    most_in_flight = 0

    async def slow_embeddings(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return embeddings_response(request)

    route = respx_mock.post(OPENAI_EMBEDDINGS).mock(side_effect=slow_embeddings)
    embedder = OpenAIEmbedder(make_settings(embedding_batch_size=1, embedding_concurrency=2))

    await embedder.embed_documents([f"문서 {index}" for index in range(6)])

    assert route.call_count == 6
    assert most_in_flight == 2


async def test_an_injected_client_is_used(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post("https://llm.internal/v1/embeddings").mock(
        side_effect=embeddings_response
    )
    async with openai.AsyncOpenAI(
        api_key="sk-other", base_url="https://llm.internal/v1", max_retries=0
    ) as client:
        embedder = OpenAIEmbedder(make_settings(), client=client)

        await embedder.embed_documents(["배송"])

    assert route.call_count == 1
