"""The reply guard: held starts, sentence-sized releases, citations, personal data."""

from functions.chat.guard import ReplyGuard

MARKER = "[[확인 필요]]"


def guard(source_count: int = 3, hold_chars: int = 24) -> ReplyGuard:
    return ReplyGuard(source_count=source_count, marker=MARKER, hold_chars=hold_chars)


def run(reply_guard: ReplyGuard, pieces: list[str]) -> list[str]:
    released = [reply_guard.feed(piece) for piece in pieces]
    released.append(reply_guard.finish())
    return [text for text in released if text]


def test_nothing_is_released_before_the_hold_and_a_sentence_end() -> None:
    reply_guard = guard()

    assert reply_guard.feed("배송은 보통 ") == ""
    assert reply_guard.feed("결제 후 영업일 기준 1~2일 걸려요") == ""
    assert reply_guard.feed(". 주말은 제외") == "배송은 보통 결제 후 영업일 기준 1~2일 걸려요. "
    assert reply_guard.finish() == "주말은 제외"


def test_uncertainty_marker_at_the_start_holds_the_whole_reply() -> None:
    reply_guard = guard()

    released = run(
        reply_guard,
        ["[[확인", " 필요]] 자료에 없는 내용이라 ", "확답이 어려워요. 다만 ", "보통은..."],
    )

    assert released == []
    assert reply_guard.held
    assert "model_uncertain" in reply_guard.findings
    assert MARKER not in reply_guard.draft


def test_personal_data_in_the_first_sentence_holds_the_reply() -> None:
    reply_guard = guard()

    released = run(reply_guard, ["담당자 연락처는 010-9876-5432 입니다. ", "연락 주세요."])

    assert released == []
    assert reply_guard.held
    assert "010-9876-5432" not in reply_guard.draft


def test_personal_data_after_release_is_masked_not_shown() -> None:
    reply_guard = guard()

    released = run(
        reply_guard,
        ["주문하신 상품은 내일 도착할 예정이에요. ", "문의는 test.user@example.com 으로 주세요."],
    )

    assert "".join(released).startswith("주문하신 상품은")
    assert "test.user@example.com" not in "".join(released)
    assert not reply_guard.held


def test_invented_citation_numbers_are_dropped_and_valid_ones_renumbered() -> None:
    reply_guard = guard(source_count=3)

    released = "".join(
        run(reply_guard, ["반품은 7일 이내 가능해요 [3]. ", "배송비는 [7] 고객 부담이에요 [2, 9]."])
    )

    assert released == "반품은 7일 이내 가능해요 [1]. 배송비는  고객 부담이에요 [2]."
    assert reply_guard.cited == [3, 2]


def test_a_citation_split_across_chunks_is_still_recognised() -> None:
    reply_guard = guard(source_count=2, hold_chars=0)

    released = "".join(run(reply_guard, ["포인트는 1년간 유효해요 [", "2]. 끝."]))

    assert released == "포인트는 1년간 유효해요 [1]. 끝."
    assert reply_guard.cited == [2]
