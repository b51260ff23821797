"""The personal-data masker on a labelled Korean set, and the log processor built on it."""

import io
import json
import logging
from collections import Counter
from collections.abc import Iterator

import pytest
import structlog
from structlog.typing import Processor

from functions._shared.logs import LOG_REDACTORS, configure_logging
from functions._shared.pii import (
    PLACEHOLDERS,
    InvalidPlaceholderError,
    PersonalDataKind,
    contains_personal_data,
    find_personal_data,
    mask_log_event,
    mask_personal_data,
    personal_data_kinds,
    placeholders_with,
)
from functions._shared.settings import Settings
from tests._shared.pii_cases import HARMLESS_TEXTS, PERSONAL_DATA_CASES, full_width

POSITIVES = [
    pytest.param(text, kind, raw, id=f"{kind}-{index:02d}")
    for index, (text, kind, raw) in enumerate(PERSONAL_DATA_CASES)
]
NEGATIVES = [
    pytest.param(text, id=f"harmless-{index:02d}") for index, text in enumerate(HARMLESS_TEXTS)
]


# The labelled set


def test_the_labelled_set_covers_every_kind_in_several_formats() -> None:
    cases_per_kind = Counter(PersonalDataKind(kind) for _, kind, _ in PERSONAL_DATA_CASES)

    assert len(PERSONAL_DATA_CASES) + len(HARMLESS_TEXTS) >= 60
    assert all(cases_per_kind[kind] >= 5 for kind in PersonalDataKind)
    assert all(raw in text for text, _, raw in PERSONAL_DATA_CASES)


@pytest.mark.parametrize(("text", "kind", "raw"), POSITIVES)
def test_personal_data_is_replaced_by_its_kind_placeholder(text: str, kind: str, raw: str) -> None:
    masked = mask_personal_data(text)

    assert raw not in masked
    assert PLACEHOLDERS[PersonalDataKind(kind)] in masked


@pytest.mark.parametrize(("text", "kind", "raw"), POSITIVES)
def test_personal_data_is_found_where_it_is_with_its_kind(text: str, kind: str, raw: str) -> None:
    raw_start = text.index(raw)

    (match,) = find_personal_data(text)

    assert match.kind == kind
    assert match.start <= raw_start
    assert match.end >= raw_start + len(raw)


@pytest.mark.parametrize(("text", "kind", "raw"), POSITIVES)
def test_routing_sees_the_kind_of_personal_data(text: str, kind: str, raw: str) -> None:
    assert contains_personal_data(text)
    assert personal_data_kinds(text) == {kind}


@pytest.mark.parametrize(("text", "kind", "raw"), POSITIVES)
def test_masking_masked_text_changes_nothing(text: str, kind: str, raw: str) -> None:
    masked = mask_personal_data(text)

    assert mask_personal_data(masked) == masked
    assert not contains_personal_data(masked)


@pytest.mark.parametrize("text", NEGATIVES)
def test_harmless_text_is_left_unchanged(text: str) -> None:
    assert mask_personal_data(text) == text


@pytest.mark.parametrize("text", NEGATIVES)
def test_harmless_text_holds_no_personal_data(text: str) -> None:
    assert not contains_personal_data(text)
    assert personal_data_kinds(text) == set()


# Behaviours beyond single values


def test_text_without_digits_or_at_sign_is_returned_as_the_same_object() -> None:
    text = "배송은 보통 이틀 걸려요. 주말에는 쉬어요."

    assert mask_personal_data(text) is text


def test_several_kinds_in_one_message_are_each_masked() -> None:
    text = "010-1234-5678로 연락 주시고 abc@naver.com 으로 영수증, 카드 4111-1111-1111-1111 취소요"

    masked = mask_personal_data(text)

    assert masked == "[전화번호]로 연락 주시고 [이메일] 으로 영수증, 카드 [카드번호] 취소요"
    assert personal_data_kinds(text) == {"phone_number", "email_address", "card_number"}


def test_an_account_followed_by_a_phone_number_is_masked_as_two_values() -> None:
    text = "신한 110-123-456789 010-1234-5678 입니다"

    assert mask_personal_data(text) == "신한 [계좌번호] [전화번호] 입니다"


def test_overlapping_findings_are_masked_with_one_placeholder_for_the_longest() -> None:
    # "+82 10-1234-5678" is read both as a +82 number and as an E.164 number.
    text = "연락처 +82 10-1234-5678 입니다"

    (match,) = find_personal_data(text)

    assert (match.kind, text[match.start : match.end]) == ("phone_number", "+82 10-1234-5678")
    assert mask_personal_data(text) == "연락처 [전화번호] 입니다"


def test_full_width_digits_are_masked_and_the_text_around_them_is_kept() -> None:
    text = f"제 번호는{full_width('010-1234-5678')}이고 메일은 없어요"

    assert mask_personal_data(text) == "제 번호는[전화번호]이고 메일은 없어요"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("주민번호 991332-1234567", id="month-13"),
        pytest.param("주민번호 980229-1234567", id="february-29-of-a-common-year"),
        pytest.param("주민번호 900101-9234567", id="sex-digit-9"),
        pytest.param("주민번호 991231-3123456", id="born-in-2099"),
    ],
)
def test_resident_number_with_an_impossible_birth_date_is_not_masked(text: str) -> None:
    assert find_personal_data(text) == []


def test_sixteen_digits_failing_luhn_are_an_account_after_an_account_word() -> None:
    assert mask_personal_data("환불 계좌 1234567812345678") == "환불 계좌 [계좌번호]"


def test_sixteen_digits_failing_luhn_are_left_alone_without_an_account_word() -> None:
    assert mask_personal_data("번호 1234567812345678 맞나요?") == "번호 1234567812345678 맞나요?"


def test_a_match_carries_no_copy_of_the_value() -> None:
    (match,) = find_personal_data("010-1234-5678")

    assert "1234" not in repr(match)


def test_placeholder_overrides_are_used_for_their_kind_only() -> None:
    placeholders = placeholders_with({"phone_number": "<전화>"})

    masked = mask_personal_data("010-1234-5678, abc@naver.com", placeholders)

    assert masked == "<전화>, [이메일]"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"phone_number": "[전화 1]"}, id="holds-a-digit"),
        pytest.param({"email_address": "[@]"}, id="holds-an-at-sign"),
        pytest.param({"phone_number": ""}, id="empty"),
        pytest.param({"fax_number": "[팩스]"}, id="unknown-kind"),
    ],
)
def test_placeholder_override_that_would_break_masking_is_refused(
    overrides: dict[str, str],
) -> None:
    with pytest.raises(InvalidPlaceholderError):
        placeholders_with(overrides)


# The log processor


def test_importing_pii_installs_the_log_redactor() -> None:
    assert LOG_REDACTORS.count(mask_log_event) == 1


def test_log_event_string_is_masked() -> None:
    event = mask_log_event(None, "info", {"event": "고객 번호 010-1234-5678 확인"})

    assert event == {"event": "고객 번호 [전화번호] 확인"}


def test_nested_log_values_are_masked() -> None:
    event = mask_log_event(
        None,
        "info",
        {
            "event": "turn",
            "customer": {"contacts": ["abc@naver.com", ("여권번호 M12345678", 3)]},
            "tags": {"900101-1234567"},
            "cards": frozenset({"4111 1111 1111 1111"}),
        },
    )

    assert event == {
        "event": "turn",
        "customer": {"contacts": ["[이메일]", ("여권번호 [여권번호]", 3)]},
        "tags": {"[주민등록번호]"},
        "cards": frozenset({"[카드번호]"}),
    }


def test_log_keys_holding_personal_data_are_masked() -> None:
    event = mask_log_event(None, "info", {"event": "x", "by_phone": {"010-1234-5678": 1}})

    assert event == {"event": "x", "by_phone": {"[전화번호]": 1}}


def test_log_values_without_personal_data_are_kept_as_the_same_objects() -> None:
    payload = {"items": [1, 2.5, None, True], "note": "29,900원"}
    event = mask_log_event(None, "info", {"event": "ok", "payload": payload, "count": 3})

    assert event["payload"] is payload
    assert event["count"] == 3


def test_objects_in_log_values_are_masked_through_their_repr() -> None:
    class Customer:
        def __repr__(self) -> str:
            return "Customer(phone='010-1234-5678')"

    event = mask_log_event(None, "info", {"event": "x", "customer": Customer()})

    assert event["customer"] == "Customer(phone='[전화번호]')"


def test_exception_text_is_masked_even_before_it_is_formatted() -> None:
    try:
        raise ValueError("카드 4111-1111-1111-1111 승인 실패")
    except ValueError as error:
        event = mask_log_event(None, "error", {"event": "failed", "exc_info": error})

    assert "exc_info" not in event
    assert "ValueError: 카드 [카드번호] 승인 실패" in event["exception"]
    assert "4111" not in event["exception"]


def test_formatted_exception_text_is_masked() -> None:
    event = mask_log_event(
        None, "error", {"event": "failed", "exception": "ValueError: 010-1234-5678 없음"}
    )

    assert event["exception"] == "ValueError: [전화번호] 없음"


def _json_pipeline() -> structlog.typing.FilteringBoundLogger:
    """A logger whose calls return the JSON line they would write."""
    processors: list[Processor] = [
        structlog.processors.format_exc_info,
        mask_log_event,
        structlog.processors.JSONRenderer(ensure_ascii=False),
    ]
    logger: structlog.typing.FilteringBoundLogger = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
    )
    return logger


@pytest.mark.parametrize(("text", "kind", "raw"), POSITIVES)
def test_json_log_pipeline_never_renders_a_raw_value(text: str, kind: str, raw: str) -> None:
    log = _json_pipeline()
    try:
        raise RuntimeError(f"lookup failed: {text}")
    except RuntimeError:
        line = log.error(
            f"customer wrote: {text}",
            exc_info=True,
            content=text,
            context={"history": [text, {"nested": (text,)}]},
        )

    assert isinstance(line, str)
    assert raw not in line
    assert PLACEHOLDERS[PersonalDataKind(kind)] in json.loads(line)["content"]


def test_json_log_pipeline_keeps_harmless_values() -> None:
    line = _json_pipeline().info("고객센터 1544-1234 안내", order="ORD-2024-000123")

    assert json.loads(line) == {"event": "고객센터 1544-1234 안내", "order": "ORD-2024-000123"}


@pytest.fixture
def stdlib_logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.processors.format_exc_info, mask_log_event],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
        )
    )
    logger = logging.getLogger("tests.pii.stdlib")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, stream
    logger.removeHandler(handler)


def test_library_log_records_are_masked_by_the_processor_formatter(
    stdlib_logger: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = stdlib_logger
    try:
        raise KeyError("abc.def+tag@naver.com")
    except KeyError:
        logger.exception("no customer with phone %s", "010-1234-5678")

    output = stream.getvalue()
    assert "010-1234-5678" not in output
    assert "abc.def+tag@naver.com" not in output
    assert json.loads(output)["event"] == "no customer with phone [전화번호]"


def test_configured_logging_masks_every_line(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging(settings)

    structlog.get_logger("tests.pii").info("turn", content="제 번호는 010-1234-5678이고요")
    logging.getLogger("tests.pii.library").warning("email %s", "abc@naver.com")

    stderr = capfd.readouterr().err
    assert "010-1234-5678" not in stderr
    assert "abc@naver.com" not in stderr
    assert "제 번호는 [전화번호]이고요" in stderr
