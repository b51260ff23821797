import itertools
import re

import pytest

from functions._shared.kb.chunking import Chunk, chunk_text

TITLE = "쇼핑몰 배송 정책"
POLICY_SENTENCES = [
    "배송은 결제 완료 후 영업일 기준 2~3일 이내에 도착합니다.",
    "제주 및 도서산간 지역은 추가 배송비 3,000원이 부과됩니다.",
    "주문 후 30분 이내에는 마이페이지에서 직접 취소할 수 있습니다.",
    "출고가 시작된 주문은 취소 대신 반품으로 접수해 주세요.",
    "택배사 사정으로 배송이 늦어지면 문자로 안내해 드립니다.",
    "냉장 및 냉동 상품은 신선도를 위해 새벽 배송으로만 보내 드립니다.",
]
PARAGRAPH = " ".join(POLICY_SENTENCES * 3)


def chunks_of(text: str, *, target: int = 150, overlap: int = 70) -> list[Chunk]:
    return chunk_text(title=TITLE, text=text, target_chars=target, overlap_chars=overlap)


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t \n"])
def test_empty_or_blank_text_has_no_chunks(text: str) -> None:
    assert chunks_of(text) == []


def test_chunks_are_spans_of_the_text_within_the_target_size() -> None:
    chunks = chunks_of(PARAGRAPH)

    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text == PARAGRAPH[chunk.char_start : chunk.char_end]
        assert 0 < len(chunk.text) <= 150
        assert chunk.text == chunk.text.strip()


def test_ordinals_are_contiguous_from_zero() -> None:
    assert [chunk.ordinal for chunk in chunks_of(PARAGRAPH)] == list(
        range(len(chunks_of(PARAGRAPH)))
    )


def test_consecutive_chunks_overlap_by_whole_trailing_sentences() -> None:
    chunks = chunks_of(PARAGRAPH, overlap=70)

    for previous, following in itertools.pairwise(chunks):
        overlap = PARAGRAPH[following.char_start : previous.char_end]
        assert following.char_start < previous.char_end
        assert len(overlap) <= 70
        assert set(re.split(r"(?<=\.) ", overlap)) <= set(POLICY_SENTENCES)


def test_no_overlap_when_it_is_zero() -> None:
    chunks = chunks_of(PARAGRAPH, overlap=0)

    assert all(
        following.char_start > previous.char_end
        for previous, following in itertools.pairwise(chunks)
    )


def test_every_character_of_the_text_is_in_some_chunk() -> None:
    text = f"# 배송\n\n{PARAGRAPH}\n\n## 반품\n\n{'반품은 7일 이내에 신청해 주세요. ' * 12}"

    covered = set[int]()
    for chunk in chunks_of(text, overlap=0):
        covered.update(range(chunk.char_start, chunk.char_end))

    assert [index for index, char in enumerate(text) if not char.isspace()] == sorted(
        index for index in covered if not text[index].isspace()
    )


def test_the_title_is_carried_into_every_chunk_context() -> None:
    for chunk in chunks_of(PARAGRAPH):
        assert chunk.context_text == f"{TITLE}\n{chunk.text}"


def test_without_a_title_the_context_is_the_text() -> None:
    chunks = chunk_text(title="  ", text=PARAGRAPH, target_chars=150, overlap_chars=0)

    assert all(chunk.context_text == chunk.text for chunk in chunks)


def test_a_heading_starts_a_chunk_and_names_the_later_chunks_of_its_section() -> None:
    text = f"앞말입니다.\n\n## 배송 기간\n\n{PARAGRAPH}"

    chunks = chunks_of(text)

    assert chunks[0].text == "앞말입니다."
    assert chunks[1].text.startswith("## 배송 기간\n\n배송은")
    assert chunks[1].context_text == f"{TITLE}\n{chunks[1].text}"
    assert all(chunk.context_text.startswith(f"{TITLE}\n배송 기간\n") for chunk in chunks[2:])


def test_overlap_never_crosses_a_heading() -> None:
    text = f"{PARAGRAPH}\n## 반품\n반품은 7일 이내에 신청해 주세요."

    last = chunks_of(text)[-1]

    assert last.text == "## 반품\n반품은 7일 이내에 신청해 주세요."


def test_a_paragraph_break_ends_a_chunk_that_is_half_full() -> None:
    first = " ".join(POLICY_SENTENCES[:4])
    second = POLICY_SENTENCES[4]
    assert len(first) >= 250 // 2
    assert len(first) + len(second) + 2 <= 250

    chunks = chunks_of(f"{first}\n\n{second}", target=250)

    assert [chunk.text for chunk in chunks] == [first, second]


def test_short_paragraphs_are_packed_together() -> None:
    text = "배송 안내입니다.\n\n반품 안내입니다.\n\n교환 안내입니다."

    assert [chunk.text for chunk in chunks_of(text)] == [text]


def test_a_sentence_longer_than_the_target_is_cut_at_spaces() -> None:
    sentence = "고객님께서 주문하신 상품은 " * 30 + "모두 발송되었습니다."

    chunks = chunks_of(sentence, target=100, overlap=0)

    assert len(chunks) > 3
    assert all(len(chunk.text) <= 100 for chunk in chunks)
    words = sentence.split()
    assert [word for chunk in chunks for word in chunk.text.split()] == words


def test_a_stretch_without_spaces_is_cut_at_the_target() -> None:
    text = "가" * 250

    chunks = chunks_of(text, target=100, overlap=0)

    assert [len(chunk.text) for chunk in chunks] == [100, 100, 50]
    assert "".join(chunk.text for chunk in chunks) == text


def test_chunking_is_deterministic() -> None:
    assert chunks_of(PARAGRAPH) == chunks_of(PARAGRAPH)


def test_offsets_count_characters_not_bytes() -> None:
    text = "😀 이모지가 있는 문장입니다. " + PARAGRAPH

    for chunk in chunks_of(text):
        assert text[chunk.char_start : chunk.char_end] == chunk.text


@pytest.mark.parametrize(("target", "overlap"), [(0, 0), (100, -1)])
def test_impossible_sizes_are_rejected(target: int, overlap: int) -> None:
    with pytest.raises(ValueError, match=re.compile("target_chars|overlap_chars")):
        chunks_of(PARAGRAPH, target=target, overlap=overlap)
