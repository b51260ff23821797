import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from functions._shared.kb import korean
from functions._shared.kb.korean import (
    SYNONYMS_PATH,
    get_kiwi,
    keyword_terms,
    load_synonyms,
    sentence_spans,
    split_sentences,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
TSQUERY_SAFE_TERM = re.compile(r"[^\W_]+")


def full_width(text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


def test_sentences_end_at_punctuation_and_line_breaks() -> None:
    text = (
        "# 배송 안내\n"
        "배송은 보통 2~3일 걸립니다. 제주도는 추가 배송비가 있어요! 취소도 되나요?\n"
        "- 네"
    )

    assert split_sentences(text) == [
        "# 배송 안내",
        "배송은 보통 2~3일 걸립니다.",
        "제주도는 추가 배송비가 있어요!",
        "취소도 되나요?",
        "- 네",
    ]


def test_sentence_spans_are_spans_of_the_original_text() -> None:
    text = "  반품은 7일 이내에 가능합니다.   교환은 14일 이내입니다.\r\n\r\n  감사합니다 "

    spans = sentence_spans(text)

    assert [text[start:end] for start, end in spans] == split_sentences(text)
    assert "".join(text[start:end] for start, end in spans).replace(" ", "") == re.sub(
        r"\s", "", text
    )


def test_a_list_number_or_decimal_point_does_not_end_a_sentence() -> None:
    text = "1. 주문 후 30분 이내에는 취소할 수 있습니다. 적립률은 2.5% 입니다."

    assert split_sentences(text) == [
        "1. 주문 후 30분 이내에는 취소할 수 있습니다.",
        "적립률은 2.5% 입니다.",
    ]


def test_long_text_without_punctuation_is_split_at_sentence_endings_by_kiwi() -> None:
    message = (
        "배송은 언제 되나요 주문한 지 일주일이 넘었는데 아직도 안 왔어요 "
        "빨리 보내 주세요 정말 답답합니다 환불해 주실 수 있나요 "
    )
    text = message * 5

    sentences = split_sentences(text)

    assert len(sentences) >= 5 * 4
    assert "".join(sentences).replace(" ", "") == text.replace(" ", "")
    assert "배송은 언제 되나요" in sentences


def test_blank_text_has_no_sentences() -> None:
    assert split_sentences(" \n\t\n ") == []


def test_keyword_terms_keep_content_words_and_drop_particles_and_endings() -> None:
    terms = keyword_terms("적립금은 결제 시 사용할 수 있어요.", expand_synonyms=False)

    assert terms == ["적립금", "결제", "사용"]


def test_verb_and_adjective_stems_take_their_dictionary_form() -> None:
    assert keyword_terms("택배 언제 와요?", expand_synonyms=False) == ["택배", "오다"]
    assert "늦어지다" in keyword_terms("배송이 늦어지나요", expand_synonyms=False)


def test_compound_nouns_add_their_joined_form() -> None:
    terms = keyword_terms("회원탈퇴 무료배송 재발송", expand_synonyms=False)

    assert terms == ["회원", "탈퇴", "회원탈퇴", "무료", "배송", "무료배송", "발송", "재발송"]


def test_numbers_foreign_words_and_hanja_are_terms() -> None:
    terms = keyword_terms("3,000원 결제 iPhone15 VIP등급 安全", expand_synonyms=False)

    assert terms == [
        "3000",
        "3000원",
        "결제",
        "iphone",
        "15",
        "iphone15",
        "vip",
        "등급",
        "vip등급",
        "安全",
    ]


def test_keyword_terms_are_plain_lower_case_tokens_for_a_simple_tsvector() -> None:
    text = (
        f"{full_width('Full-width ABC!')} 010-1234-5678, test@example.com 'quote' (괄호) a&b|c:*d "
        "https://shop.example/faq?q=배송 ㅠㅠ 😀 타입\\스크립트 #해시태그 고객들 다했어용"
    )

    terms = keyword_terms(text)

    assert terms
    assert all(TSQUERY_SAFE_TERM.fullmatch(term) for term in terms), terms
    assert all(term == term.lower() for term in terms)


def test_full_width_letters_and_digits_read_as_ascii() -> None:
    assert keyword_terms(full_width("VIP 등급 ABC123"), expand_synonyms=False) == [
        "vip",
        "등급",
        "abc",
        "123",
        "abc123",
    ]


def test_a_question_and_its_answer_share_terms_through_synonyms() -> None:
    question = set(keyword_terms("택배 언제 와요?"))
    answer = set(keyword_terms("배송 기간은 보통 2~3일입니다"))

    assert {"택배", "배송"} <= question & answer


def test_synonyms_follow_the_term_they_expand() -> None:
    assert keyword_terms("포인트") == ["포인트", "적립금", "마일리지", "point", "points"]
    assert keyword_terms("포인트", expand_synonyms=False) == ["포인트"]


def test_refund_and_return_stay_apart() -> None:
    assert "반품" not in keyword_terms("환불")
    assert "환불" not in keyword_terms("반품")


def test_every_term_of_the_synonyms_file_is_a_term_keyword_terms_produces() -> None:
    table = load_synonyms(SYNONYMS_PATH)

    unproducible = [
        term for term in table if term not in keyword_terms(term, expand_synonyms=False)
    ]

    assert len(table) > 20
    assert unproducible == []


def test_a_synonym_group_with_a_phrase_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.txt"
    path.write_text("# 배송\n택배, 배송\n회원 탈퇴, 계정삭제\n", encoding="utf-8")

    with pytest.raises(ValueError, match=r"synonyms.txt:3: not a single keyword term: 회원 탈퇴"):
        load_synonyms(path)


def test_synonym_groups_sharing_a_term_are_merged(tmp_path: Path) -> None:
    path = tmp_path / "synonyms.txt"
    path.write_text("탈퇴, 해지  # 계정\n해지,취소\n", encoding="utf-8")

    table = load_synonyms(path)

    assert table["해지"] == ("탈퇴", "취소")
    assert table["탈퇴"] == ("해지",)


def test_kiwi_is_created_once_for_every_thread() -> None:
    seen: list[object] = []

    def grab() -> None:
        seen.append(get_kiwi())

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(kiwi) for kiwi in seen}) == 1


def test_importing_the_kb_modules_does_not_load_kiwi() -> None:
    probe = (
        "import sys\n"
        "import functions._shared.kb.chunking, functions._shared.kb.embedders\n"
        "assert 'kiwipiepy' not in sys.modules, 'kiwipiepy imported'\n"
    )

    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )

    assert completed.returncode == 0, completed.stderr


def test_keyword_terms_do_not_depend_on_what_was_analysed_before() -> None:
    text = "배송비는 주문 금액 5만 원 이상이면 무료입니다"
    first = keyword_terms(text)

    korean._word_terms_cache.clear()

    assert keyword_terms(text) == first
