"""Where personal data sits in a text, for Korean customer chat first.

Kinds: Korean and international phone numbers, 주민등록번호 / 외국인등록번호, card numbers,
bank account numbers, e-mail addresses and passport numbers.

Each kind has patterns written for how Korean customers type (digits glued to Hangul particles,
"번호는01012345678이에요"; full-width digits; hyphens, dots, spaces or nothing between groups) and,
where a pattern alone would catch harmless numbers, a check on the value: Luhn for cards, a real
birth date for 주민등록번호, context words (계좌, 입금, a bank's name) for bare account numbers.
Company numbers (1544-xxxx, 080 toll-free), order numbers, prices, dates, times and postal codes
are left alone: no pattern accepts them, and account numbers, the loosest kind, also refuse
toll-free and date-shaped values and numbers that follow words such as 주문 or 운송장.

Patterns run on a normalised copy of the text whose characters map one to one onto the
original (full-width forms and dash look-alikes become ASCII), so offsets found in the copy are
offsets in the original.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final


class PersonalDataKind(StrEnum):
    PHONE_NUMBER = "phone_number"
    RESIDENT_REGISTRATION_NUMBER = "resident_registration_number"
    CARD_NUMBER = "card_number"
    BANK_ACCOUNT_NUMBER = "bank_account_number"
    EMAIL_ADDRESS = "email_address"
    PASSPORT_NUMBER = "passport_number"


@dataclass(frozen=True, slots=True)
class PersonalDataMatch:
    """A span ``text[start:end]`` of personal data.

    It holds no copy of the value, so a match can be logged or stored without leaking it.
    """

    kind: PersonalDataKind
    start: int
    end: int


# When overlapping matches are merged, the longest names the whole; between equally long ones,
# the kind whose check is strictest (a valid birth date, Luhn) is the better guess.
_SPECIFICITY: Final[dict[PersonalDataKind, int]] = {
    PersonalDataKind.RESIDENT_REGISTRATION_NUMBER: 0,
    PersonalDataKind.CARD_NUMBER: 1,
    PersonalDataKind.PASSPORT_NUMBER: 2,
    PersonalDataKind.EMAIL_ADDRESS: 3,
    PersonalDataKind.PHONE_NUMBER: 4,
    PersonalDataKind.BANK_ACCOUNT_NUMBER: 5,
}

_Candidate = tuple[PersonalDataKind, int, int]


def _normalisation_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for offset in range(10):
        table[0xFF10 + offset] = chr(ord("0") + offset)
    for offset in range(26):
        table[0xFF21 + offset] = chr(ord("A") + offset)
        table[0xFF41 + offset] = chr(ord("a") + offset)
    # Full-width + @ . ( ) _ % -, as a Korean IME in full-width mode types them.
    for full_width, ascii_form in zip(
        "\uff0b\uff20\uff0e\uff08\uff09\uff3f\uff05", "+@.()_%", strict=True
    ):
        table[ord(full_width)] = ascii_form
    # Hyphen look-alikes, ㅡ (U+3161) included: Korean users type it for a dash.
    for dash in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d\u3161":
        table[ord(dash)] = "-"
    for space in "\u00a0\u2007\u202f\u3000":
        table[ord(space)] = " "
    return table


# Every mapping is one character to one character: offsets in the copy are offsets in the text.
_NORMALISATION: Final = _normalisation_table()

# Every kind needs a digit or an @; the many log lines and chat messages without one skip all
# pattern matching.
_MAY_HOLD_PERSONAL_DATA: Final = re.compile(r"[0-9@\uff10-\uff19\uff20]")


def may_hold_personal_data(text: str) -> bool:
    return _MAY_HOLD_PERSONAL_DATA.search(text) is not None


# Not glued to a letter or digit. Hangul may touch a number ("번호는01012345678이에요"), which
# is why these are look-arounds and not \b (Hangul is a word character). Letters count as glue
# so that the decimal runs inside hex ids and hashes in log lines are not taken for numbers.
_START = r"(?<![0-9A-Za-z])"
_END = r"(?![0-9A-Za-z])"
# As _START, and not a later group of a hyphenated code such as ORD-2024-000123.
_CHAIN_START = r"(?<![0-9A-Za-z])(?<![0-9A-Za-z][-.])"
_CHAIN_END = r"(?![0-9A-Za-z])(?![-.][0-9A-Za-z])"
# Phone numbers are not the middle of a hyphenated id (a UUID's 8252-4520-8535 reads like
# +82 52-4520-8535), but may follow the labels people glue to them: Tel010-..., TEL.010-....
_PHONE_START = (
    rf"(?:{_CHAIN_START}|(?<=[Tt][Ee][Ll])|(?<=[Tt][Ee][Ll][.-])|(?<=[Hh][Pp])|(?<=[Hh][Pp][.-]))"
)
# Between phone digit groups: a hyphen or dot (spaces around it allowed), a space, or nothing.
_PHONE_SEPARATOR = r"(?:[ \t]?[-.][ \t]?|[ \t])?"

_KOREAN_MOBILE: Final = re.compile(
    rf"{_PHONE_START}\(?01[016789]\)?{_PHONE_SEPARATOR}[0-9]{{3,4}}{_PHONE_SEPARATOR}[0-9]{{4}}"
    rf"{_CHAIN_END}",
    re.ASCII,
)
_KOREAN_LANDLINE: Final = re.compile(
    # Seoul 02, regional 031-064, internet phones 070, personal "safe numbers" 050x.
    # 080 (toll-free) is absent on purpose: those are company numbers.
    rf"{_PHONE_START}\(?(?:02|0[3-6][1-5]|070|050[0-9]?)\)?"
    rf"{_PHONE_SEPARATOR}[0-9]{{3,4}}{_PHONE_SEPARATOR}[0-9]{{4}}{_CHAIN_END}",
    re.ASCII,
)
_KOREA_COUNTRY_CODE: Final = re.compile(
    # +82 10-1234-5678, +821012345678, 82-10-1234-5678, 0082 2 1234 5678, +82 (0)10 ...
    rf"{_CHAIN_START}(?:\+[ \t]?|00[ \t]?)?82{_PHONE_SEPARATOR}(?:\(0\)[ \t]?)?0?"
    rf"(?:1[016789]|2|[3-6][1-5]|70|50[0-9]?){_PHONE_SEPARATOR}[0-9]{{3,4}}"
    rf"{_PHONE_SEPARATOR}[0-9]{{4}}{_CHAIN_END}",
    re.ASCII,
)
_INTERNATIONAL: Final = re.compile(
    # E.164 written by people: +1 415 555 0100, +44 20 7946 0958, +1 (415) 555-0100.
    # Groups are always separated (a parenthesis counts), so the pattern cannot backtrack badly.
    r"(?<![0-9A-Za-z+])\+[ \t]?\(?[1-9][0-9]*\)?"
    r"(?:(?:[ \t]?[-.][ \t]?|[ \t]|(?<=\))|(?=\())\(?[0-9]+\)?)*",
    re.ASCII,
)
_E164_MIN_DIGITS: Final = 8
_E164_MAX_DIGITS: Final = 15

_RESIDENT_REGISTRATION: Final = re.compile(
    # YYMMDD-GNNNNNN; G (1-8) is sex and century, 5-8 for 외국인등록번호. A trailing ****** (the
    # way people half-hide it) still reveals birth date and sex.
    rf"{_START}(?P<birth>[0-9]{{6}})[ \t]?-?[ \t]?(?P<serial>[1-8](?:[0-9]{{6}}|\*{{6}})){_END}",
    re.ASCII,
)
_RESIDENT_DIGITS: Final = 13
_RESIDENT_CONTEXT: Final = re.compile(
    r"주민|외국인|등록번호|생년월일|resident", re.ASCII | re.IGNORECASE
)
_RESIDENT_WINDOW: Final = 20
_CENTURY_BY_SEX_DIGIT: Final = {
    "1": 1900,
    "2": 1900,
    "5": 1900,
    "6": 1900,
    "3": 2000,
    "4": 2000,
    "7": 2000,
    "8": 2000,
}

# Runs of at least ten digits in groups joined by single spaces or hyphens: card numbers and
# account numbers written with context are read out of these. The look-ahead skips the many
# short numbers (prices, counts, dates) before any Python code runs.
_DIGIT_CHAIN: Final = re.compile(
    rf"{_CHAIN_START}(?=(?:[0-9][ -]?){{10}})[0-9]+(?:[ -][0-9]+)*{_END}",
    re.ASCII,
)
_DIGIT_GROUP: Final = re.compile(r"[0-9]+", re.ASCII)

_CARD_MIN_DIGITS: Final = 13
_CARD_MAX_DIGITS: Final = 19
_CARD_CONTEXT: Final = re.compile(r"카드|card", re.ASCII | re.IGNORECASE)
_CARD_CONTEXT_WINDOW: Final = 15

# Korean account formats: 110-123-456789 (신한), 1002-123-456789 (우리), 123456-01-234567 (국민),
# 123-456789-01-012 (기업), 3333-01-1234567 (카카오뱅크), 301-1234-5678-11 (농협), ...
# Three to five groups; shorter shapes need a context word.
_HYPHENATED_ACCOUNT: Final = re.compile(
    rf"{_CHAIN_START}[0-9]{{3,6}}(?:-[0-9]{{2,7}}){{1,3}}-[0-9]{{1,7}}{_CHAIN_END}",
    re.ASCII,
)
_ACCOUNT_MIN_DIGITS: Final = 10
_HYPHENATED_ACCOUNT_MAX_DIGITS: Final = 14
# With a context word, up to 16 digits: some banks' virtual accounts (가상계좌) are that long.
_CONTEXT_ACCOUNT_MAX_DIGITS: Final = 16
_DATE_SHAPED: Final = re.compile(
    r"(?:19|20)[0-9]{2}-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12][0-9]|3[01])(?:-|$)", re.ASCII
)
# The nearest context word decides whether a bare number is an account: bank words say yes;
# words that introduce other numbers (order, tracking, business registration) say no.
# (?<!\[) skips the word inside our own placeholder [계좌번호].
_ACCOUNT_CONTEXT: Final = re.compile(
    r"(?<!\[)(?:"
    r"(?P<account>계좌|통장|입금|송금|이체|은행|뱅크|카뱅|국민|신한|우리|하나|농협|기업|우체국|새마을"
    r"|신협|수협|씨티|SC제일|IBK|KB|NH|account|bank)"
    r"|(?P<other>운송장|송장|택배|배송|주문|접수|예약|사업자|통관|쿠폰|상품|모델|바코드|일련|시리얼"
    r"|회원|영수증|승인|order|tracking|invoice|serial|coupon|barcode|isbn)"
    r")",
    re.ASCII | re.IGNORECASE,
)
_ACCOUNT_CONTEXT_BEFORE: Final = 20
_ACCOUNT_CONTEXT_AFTER: Final = 8

# Korean passports: M (multiple), S (single), R (travel certificate), O (official),
# D (diplomatic), G; eight digits, or since 2021 three digits, a letter and four digits.
_KOREAN_PASSPORT: Final = re.compile(
    rf"{_START}[MSRODG](?:[0-9]{{8}}|[0-9]{{3}}[A-Z][0-9]{{4}}){_END}",
    re.ASCII,
)
# Other countries' formats vary too much to be told from product codes without the word.
_PASSPORT_AFTER_CONTEXT: Final = re.compile(
    r"(?:여권|passport)(?:[^0-9A-Za-z\n]{0,12}(?:number|num|no)\.?)?[^0-9A-Za-z\n]{0,12}"
    r"(?P<number>[A-Za-z]{0,2}[0-9]{6,9}|[A-Za-z][0-9]{3}[A-Za-z][0-9]{4})(?![0-9A-Za-z])",
    re.ASCII | re.IGNORECASE,
)
_COMPACT_DATE: Final = re.compile(
    r"(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])", re.ASCII
)

_EMAIL: Final = re.compile(
    # Plus-addressing and Korean (IDN) domains, 홍길동@회사.한국 style, are allowed; the local
    # part is ASCII so Hangul glued before the address ("메일은abc@...") stays outside the match,
    # and the top-level domain is ASCII or 한국 so a particle after it ("...com으로") does too.
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@"
    r"(?:[A-Za-z0-9가-힣](?:[A-Za-z0-9가-힣\-]{0,61}[A-Za-z0-9가-힣])?\.)+"
    r"(?:[A-Za-z]{2,24}|한국)(?![A-Za-z0-9\-])",
    re.ASCII,
)


def find_personal_data(text: str) -> list[PersonalDataMatch]:
    """Every span of personal data in ``text``, in order, never overlapping.

    Overlapping findings are merged into one span, so no part of any finding is left out; the
    longest finding (then the most specific kind) names it.
    """
    if not may_hold_personal_data(text):
        return []
    normalised = text if text.isascii() else text.translate(_NORMALISATION)
    candidates = [
        *_emails(normalised),
        *_phone_numbers(normalised),
        *_resident_registration_numbers(normalised),
        *_passport_numbers(normalised),
        *_hyphenated_accounts(normalised),
        *_digit_chain_findings(normalised),
    ]
    return _merge(candidates)


def _merge(candidates: list[_Candidate]) -> list[PersonalDataMatch]:
    candidates.sort(key=lambda candidate: (candidate[1], -candidate[2]))
    matches: list[PersonalDataMatch] = []
    group: list[_Candidate] = []
    group_end = -1
    for candidate in candidates:
        _, start, end = candidate
        if group and start >= group_end:
            matches.append(_named_group(group, group_end))
            group = []
        group_end = max(group_end, end) if group else end
        group.append(candidate)
    if group:
        matches.append(_named_group(group, group_end))
    return matches


def _named_group(group: Sequence[_Candidate], end: int) -> PersonalDataMatch:
    kind, _, _ = min(
        group, key=lambda candidate: (candidate[1] - candidate[2], _SPECIFICITY[candidate[0]])
    )
    return PersonalDataMatch(kind=kind, start=group[0][1], end=end)


def _emails(text: str) -> Iterator[_Candidate]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        yield PersonalDataKind.EMAIL_ADDRESS, match.start(), match.end()


def _phone_numbers(text: str) -> Iterator[_Candidate]:
    for pattern in (_KOREAN_MOBILE, _KOREAN_LANDLINE, _KOREA_COUNTRY_CODE):
        for match in pattern.finditer(text):
            yield PersonalDataKind.PHONE_NUMBER, match.start(), match.end()
    if "+" not in text:
        return
    for match in _INTERNATIONAL.finditer(text):
        end = _e164_end(match)
        if end is not None:
            yield PersonalDataKind.PHONE_NUMBER, match.start(), end


def _e164_end(match: re.Match[str]) -> int | None:
    # E.164 allows at most 15 digits: a longer run keeps its leading groups, since the tail is
    # more likely the start of the next number in the sentence.
    digits = 0
    end: int | None = None
    for group in _DIGIT_GROUP.finditer(match.string, match.start(), match.end()):
        length = group.end() - group.start()
        if digits + length > _E164_MAX_DIGITS:
            break
        digits += length
        end = group.end()
    return end if digits >= _E164_MIN_DIGITS else None


def _resident_registration_numbers(text: str) -> Iterator[_Candidate]:
    for match in _RESIDENT_REGISTRATION.finditer(text):
        # No checksum test: numbers issued since October 2020 no longer follow it.
        if not _is_birth_date(match["birth"], sex_digit=match["serial"][0]):
            continue
        # Thirteen bare digits after a word that introduces another kind of number are that
        # number: an account that starts like a birth date (1002123456789 after 우리은행; the
        # account finder names it) or a product barcode (880... after 바코드).
        if (
            match.end() - match.start() == _RESIDENT_DIGITS
            and not _follows_resident_word(text, match.start())
            and _account_context(text, match.start(), match.end()) is not None
        ):
            continue
        yield PersonalDataKind.RESIDENT_REGISTRATION_NUMBER, match.start(), match.end()


def _is_birth_date(yymmdd: str, *, sex_digit: str) -> bool:
    year = _CENTURY_BY_SEX_DIGIT[sex_digit] + int(yymmdd[:2])
    try:
        born = date(year, int(yymmdd[2:4]), int(yymmdd[4:6]))
    except ValueError:
        return False
    # Nobody is born in the future: this turns away many 13-digit codes (880... barcodes read
    # as 2088).
    return born <= date.today()


def _follows_resident_word(text: str, start: int) -> bool:
    window_start = max(0, start - _RESIDENT_WINDOW)
    return _RESIDENT_CONTEXT.search(text, window_start, start) is not None


def _passport_numbers(text: str) -> Iterator[_Candidate]:
    for match in _KOREAN_PASSPORT.finditer(text):
        yield PersonalDataKind.PASSPORT_NUMBER, match.start(), match.end()
    for match in _PASSPORT_AFTER_CONTEXT.finditer(text):
        # "여권 만료일 20301231" gives a date, not a number.
        if _COMPACT_DATE.fullmatch(match["number"]):
            continue
        yield PersonalDataKind.PASSPORT_NUMBER, match.start("number"), match.end("number")


def _hyphenated_accounts(text: str) -> Iterator[_Candidate]:
    for match in _HYPHENATED_ACCOUNT.finditer(text):
        value = match.group()
        digits = value.replace("-", "")
        if not _ACCOUNT_MIN_DIGITS <= len(digits) <= _HYPHENATED_ACCOUNT_MAX_DIGITS:
            continue
        if _is_company_number(digits) or _is_isbn(digits) or _DATE_SHAPED.match(value):
            continue
        if _account_context(text, match.start(), match.end()) == "other":
            continue
        yield PersonalDataKind.BANK_ACCOUNT_NUMBER, match.start(), match.end()


def _is_company_number(digits: str) -> bool:
    # 080-xxx(x)-xxxx is a toll-free company line; 15xx/16xx/18xx numbers have only eight
    # digits and never reach an account's length.
    return digits.startswith("080") and len(digits) <= 11


def _is_isbn(digits: str) -> bool:
    # Book numbers are written 978-89-364-3412-0, the shape of an account.
    return len(digits) == 13 and digits.startswith(("978", "979"))


def _account_context(text: str, start: int, end: int) -> str | None:
    """``"account"``, ``"other"`` or ``None``: the nearest context word before, else after."""
    nearest_before: str | None = None
    for word in _ACCOUNT_CONTEXT.finditer(text, max(0, start - _ACCOUNT_CONTEXT_BEFORE), start):
        nearest_before = word.lastgroup
    if nearest_before is not None:
        return nearest_before
    word_after = _ACCOUNT_CONTEXT.search(text, end, end + _ACCOUNT_CONTEXT_AFTER)
    return word_after.lastgroup if word_after is not None else None


def _digit_chain_findings(text: str) -> Iterator[_Candidate]:
    for chain in _DIGIT_CHAIN.finditer(text):
        groups = [
            (group.start(), group.end())
            for group in _DIGIT_GROUP.finditer(text, chain.start(), chain.end())
        ]
        yield from _cards_in_chain(text, groups)
        account = _context_account_in_chain(text, groups)
        if account is not None:
            yield PersonalDataKind.BANK_ACCOUNT_NUMBER, account[0], account[1]


def _cards_in_chain(text: str, groups: Sequence[tuple[int, int]]) -> Iterator[_Candidate]:
    # Every run of whole groups is tried, so a card followed by a quantity ("... 1111 3개월")
    # or preceded by another number is still found; overlapping finds are merged later.
    for first in range(len(groups)):
        digits = 0
        # Separated card numbers all open with a group of four; any other group can only be a
        # card on its own, which keeps long chains of short numbers cheap.
        last_to_try = len(groups) if groups[first][1] - groups[first][0] == 4 else first + 1
        for last in range(first, last_to_try):
            digits += groups[last][1] - groups[last][0]
            if digits > _CARD_MAX_DIGITS:
                break
            if digits < _CARD_MIN_DIGITS:
                continue
            lengths = [end - start for start, end in groups[first : last + 1]]
            if not _is_card_grouping(lengths):
                continue
            number = "".join(text[start:end] for start, end in groups[first : last + 1])
            if not _passes_luhn(number):
                continue
            start, end = groups[first][0], groups[last][1]
            # One unbroken run of digits is as likely an order number (10% of those pass
            # Luhn): it counts as a card only with a card network's prefix or the word 카드.
            if first == last and not (_has_card_prefix(number) or _follows_card_word(text, start)):
                continue
            yield PersonalDataKind.CARD_NUMBER, start, end


def _is_card_grouping(lengths: Sequence[int]) -> bool:
    # 4-4-4-4, 4-6-5 (Amex), 4-6-4 (Diners), 4-4-4-4-3, 4-4-4-1 (13-digit Visa), or no
    # separators at all. A lone digit after a card is a quantity ("... 1111 3개월"), not its end.
    if len(lengths) == 1:
        return True
    if lengths == [4, 4, 4, 1]:
        return True
    return (
        lengths[0] == 4
        and all(4 <= length <= 6 for length in lengths[1:-1])
        and 3 <= lengths[-1] <= 6
    )


def _passes_luhn(number: str) -> bool:
    total = 0
    for position, character in enumerate(reversed(number)):
        digit = ord(character) - ord("0")
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _has_card_prefix(number: str) -> bool:
    # Amex, Diners and JCB (3), Visa (4), Mastercard (51-55, 2221-2720), Maestro, Discover and
    # UnionPay (5, 6), Korean domestic cards (9). Leaves out 19xx/20xx, how date-based order
    # numbers begin.
    return number[0] in "34569" or 2221 <= int(number[:4]) <= 2720


def _follows_card_word(text: str, start: int) -> bool:
    return _CARD_CONTEXT.search(text, max(0, start - _CARD_CONTEXT_WINDOW), start) is not None


def _context_account_in_chain(
    text: str, groups: Sequence[tuple[int, int]]
) -> tuple[int, int] | None:
    """The account number a chain starts with, if a bank word says it is one.

    Space-separated pieces are joined ("110 123 456789") up to 16 digits, but a following piece
    with hyphens of its own is another number (a phone number after the account).
    """
    pieces = _space_separated_pieces(text, groups)
    start, end, digits, _ = pieces[0]
    if digits > _CONTEXT_ACCOUNT_MAX_DIGITS:
        return None
    for _, piece_end, piece_digits, hyphenated in pieces[1:]:
        if hyphenated or digits + piece_digits > _CONTEXT_ACCOUNT_MAX_DIGITS:
            break
        end = piece_end
        digits += piece_digits
    if digits < _ACCOUNT_MIN_DIGITS:
        return None
    value = text[start:end]
    if _is_company_number(value.replace("-", "").replace(" ", "")):
        return None
    # "입금 12000000000원" is an amount of money, not an account.
    if text[end : end + 2].lstrip().startswith("원"):
        return None
    if _account_context(text, start, end) != "account":
        return None
    return start, end


def _space_separated_pieces(
    text: str, groups: Sequence[tuple[int, int]]
) -> list[tuple[int, int, int, bool]]:
    """(start, end, digit count, has hyphens) of each piece of a chain between spaces."""
    pieces: list[tuple[int, int, int, bool]] = []
    for start, end in groups:
        if pieces and text[start - 1] == "-":
            piece_start, _, digits, _ = pieces[-1]
            pieces[-1] = (piece_start, end, digits + end - start, True)
        else:
            pieces.append((start, end, end - start, False))
    return pieces
