"""A labelled set of Korean customer-chat texts for the personal-data masker, shared by tests.

``PERSONAL_DATA_CASES``: (text, kind, raw value) — the kind is a ``PersonalDataKind`` value and
the raw value appears in the text exactly as written. Masking must replace it with the kind's
placeholder. Other tests reuse these to check that no raw value reaches an LLM request, the
embedder or the logs.

Feed the whole text, not the raw value alone: a bare account number, a foreign passport number
or an unseparated card number without a network prefix is recognised by the words around it
(계좌, 여권, 카드), as a person would.

``HARMLESS_TEXTS``: texts with numbers that are not personal data (company numbers, order
numbers, prices, dates, times, quantities, postal codes) and plain FAQ questions; masking must
leave them unchanged.

Every value here is made up (test card numbers, 555 and Ofcom drama numbers, invented accounts).
"""

PHONE = "phone_number"
RESIDENT = "resident_registration_number"
CARD = "card_number"
ACCOUNT = "bank_account_number"
EMAIL = "email_address"
PASSPORT = "passport_number"


def full_width(text: str) -> str:
    """``text`` with ASCII digits, letters and - @ . + in their full-width forms."""
    return "".join(
        chr(ord(character) + 0xFEE0) if "!" <= character <= "~" else character for character in text
    )


PERSONAL_DATA_CASES: list[tuple[str, str, str]] = [
    # Korean mobile numbers
    ("제 번호는 010-1234-5678이고요", PHONE, "010-1234-5678"),
    ("번호는01012345678이에요", PHONE, "01012345678"),
    ("연락처 010 9876 5432 로 문자 주세요", PHONE, "010 9876 5432"),
    ("010.2345.6789로 전화 부탁드려요", PHONE, "010.2345.6789"),
    ("예전 번호 011-123-4567도 있어요", PHONE, "011-123-4567"),
    ("016-234-5678 이 번호는 이제 안 써요", PHONE, "016-234-5678"),
    ("아버지 번호 019)345-6789 입니다", PHONE, "019)345-6789"),
    ("(010)1234-5678로 연락 주세요", PHONE, "(010)1234-5678"),
    ("휴대폰 010 - 3456 - 7890 이요", PHONE, "010 - 3456 - 7890"),
    (f"전화번호 {full_width('010-5678-1234')} 입니다", PHONE, full_width("010-5678-1234")),
    ("급해요 010ㅡ4321ㅡ8765 로 연락 주세요", PHONE, "010ㅡ4321ㅡ8765"),
    ("Tel010-2222-3333 로 부탁해요", PHONE, "010-2222-3333"),
    ("TEL.010-4444-5555 (평일만)", PHONE, "010-4444-5555"),
    # Korean landlines, internet and safe numbers
    ("사무실 02-123-4567로 전화 주세요", PHONE, "02-123-4567"),
    ("회사 번호는 02-1234-5678 입니다", PHONE, "02-1234-5678"),
    ("집 전화 031-987-6543 이에요", PHONE, "031-987-6543"),
    ("부산 본가 051)234-5678 로 보내주세요", PHONE, "051)234-5678"),
    ("(02)345-6789 로 회신 바랍니다", PHONE, "(02)345-6789"),
    ("인터넷전화 070-1234-5678이요", PHONE, "070-1234-5678"),
    ("배달 안심번호 0504-1234-5678로 왔어요", PHONE, "0504-1234-5678"),
    ("지방 번호는 0431234567 입니다", PHONE, "0431234567"),
    # International numbers
    ("해외에 있어서 +82 10-1234-5678로 연락 주세요", PHONE, "+82 10-1234-5678"),
    ("+821098765432 로 문자 주세요", PHONE, "+821098765432"),
    ("82-10-2345-6789 이 번호 맞아요", PHONE, "82-10-2345-6789"),
    ("서울 사무실 +82 (0)2 1234 5678 입니다", PHONE, "+82 (0)2 1234 5678"),
    ("미국 번호 +1 415 555 0100 로 전화해 주세요", PHONE, "+1 415 555 0100"),
    ("영국 연락처는 +44 20 7946 0958 입니다", PHONE, "+44 20 7946 0958"),
    ("+1 (415) 555-0199로 연락주세요", PHONE, "+1 (415) 555-0199"),
    ("일본 번호 +81-3-1234-5678 이에요", PHONE, "+81-3-1234-5678"),
    # 주민등록번호 / 외국인등록번호
    ("주민번호 900101-1234567", RESIDENT, "900101-1234567"),
    ("주민등록번호는 8503152345678 입니다", RESIDENT, "8503152345678"),
    ("본인확인용 주민번호 000229-3123456 이에요", RESIDENT, "000229-3123456"),
    ("아이 주민번호는051231-4234567이에요", RESIDENT, "051231-4234567"),
    ("외국인등록번호 920505-5123456", RESIDENT, "920505-5123456"),
    ("외국인등록번호는 030708 7654321 입니다", RESIDENT, "030708 7654321"),
    ("주민번호 앞자리랑 뒤 한 자리만요 880808-1******", RESIDENT, "880808-1******"),
    (f"주민번호 {full_width('950620-2345678')}", RESIDENT, full_width("950620-2345678")),
    # Card numbers (Luhn-valid)
    ("카드 4111 1111 1111 1111로 결제했어요", CARD, "4111 1111 1111 1111"),
    ("카드번호 5555-5555-5555-4444 입니다", CARD, "5555-5555-5555-4444"),
    ("4012888888881881 이 카드로 결제했는데요", CARD, "4012888888881881"),
    ("아멕스 3782 822463 10005 로 결제했어요", CARD, "3782 822463 10005"),
    ("디스커버 6011-1111-1111-1117 결제 취소해주세요", CARD, "6011-1111-1111-1117"),
    ("JCB 3566002020360505 로 결제", CARD, "3566002020360505"),
    ("마스터카드 2223 0031 2200 3222 로 했어요", CARD, "2223 0031 2200 3222"),
    ("국내전용 카드 9410-1234-5678-9010 입니다", CARD, "9410-1234-5678-9010"),
    ("유니온페이 6212 3456 7890 1234 569 로 결제했어요", CARD, "6212 3456 7890 1234 569"),
    ("카드번호는4111111111111111이에요", CARD, "4111111111111111"),
    ("카드 1234567890123452 로 결제했어요", CARD, "1234567890123452"),
    ("4111 1111 1111 1111 3개월 할부로 했어요", CARD, "4111 1111 1111 1111"),
    (f"카드 {full_width('4111-1111-1111-1111')}", CARD, full_width("4111-1111-1111-1111")),
    # Bank account numbers
    ("국민은행 123456-01-234567로 환불해주세요", ACCOUNT, "123456-01-234567"),
    ("신한 110-123-456789 로 보내주세요", ACCOUNT, "110-123-456789"),
    ("우리은행 1002-123-456789 입니다", ACCOUNT, "1002-123-456789"),
    ("기업은행 123-456789-01-012 로 환불 부탁드려요", ACCOUNT, "123-456789-01-012"),
    ("카카오뱅크 3333-01-1234567 이에요", ACCOUNT, "3333-01-1234567"),
    ("환불 계좌는 농협 301-1234-5678-11 입니다", ACCOUNT, "301-1234-5678-11"),
    ("하나은행 123-123456-12345 로 입금해 주세요", ACCOUNT, "123-123456-12345"),
    ("토스뱅크 1000-1234-5678 으로 환불해 주세요", ACCOUNT, "1000-1234-5678"),
    ("계좌번호 110123456789 로 부탁드립니다", ACCOUNT, "110123456789"),
    ("입금은 1002123456789로 했어요", ACCOUNT, "1002123456789"),
    ("통장 번호가 3333011234567 이에요", ACCOUNT, "3333011234567"),
    ("신한은행 110 123 456789 로 보내주세요", ACCOUNT, "110 123 456789"),
    ("가상계좌 1234567890123456 으로 입금했어요", ACCOUNT, "1234567890123456"),
    ("1002987654321 우리은행으로 환불해주세요", ACCOUNT, "1002987654321"),
    ("새마을금고 9002-12-345678-9 입니다", ACCOUNT, "9002-12-345678-9"),
    ("제 계좌로 보내주세요 356-1234-5678-93", ACCOUNT, "356-1234-5678-93"),
    # E-mail addresses
    ("abc.def+tag@naver.com 으로 보내주세요", EMAIL, "abc.def+tag@naver.com"),
    ("메일은hong_gildong@daum.net입니다", EMAIL, "hong_gildong@daum.net"),
    ("영수증은 user.name@company.co.kr 로 부탁해요", EMAIL, "user.name@company.co.kr"),
    ("test-user@hanmail.net으로 보내주세요", EMAIL, "test-user@hanmail.net"),
    ("회사 메일 kim@회사.한국 으로 주세요", EMAIL, "kim@회사.한국"),
    ("이메일 MyName2024@Gmail.com 입니다", EMAIL, "MyName2024@Gmail.com"),
    (f"메일 {full_width('abc@kakao.com')} 로 보내주세요", EMAIL, full_width("abc@kakao.com")),
    # Passport numbers
    ("여권번호 M12345678", PASSPORT, "M12345678"),
    ("여권 번호는 M123A4567 입니다", PASSPORT, "M123A4567"),
    ("S98765432 여권으로 예약했어요", PASSPORT, "S98765432"),
    ("관용여권 번호는 O12345678 입니다", PASSPORT, "O12345678"),
    ("여권번호:X1234567 (미국 여권)", PASSPORT, "X1234567"),
    ("passport no. 123456789 for the booking", PASSPORT, "123456789"),
    ("Passport number: AB1234567", PASSPORT, "AB1234567"),
]

HARMLESS_TEXTS: list[str] = [
    # Company numbers published in the KB
    "고객센터 1544-1234로 전화주세요",
    "상담은 1588-0000 으로 연락 주세요",
    "1600-1234 번으로 전화하면 되나요?",
    "대표번호 1644-5678 운영 시간이 언제예요?",
    "1661-1234 로 전화했는데 안 받아요",
    "콜센터 1666-1234 는 주말에도 하나요?",
    "1670-1234 번호 맞죠?",
    "A/S는 1688-1234 로 문의하세요",
    "1800-1234 로 연락하면 되나요?",
    "수신자부담 080-123-4567 로 전화 주세요",
    "무료전화 080-1234-5678 입니다",
    "고객센터 15441234 번호 맞아요?",
    # Order, tracking and business numbers
    "주문번호 ORD-2024-000123 배송 언제 와요?",
    "ORD-2024-000123 주문 취소하고 싶어요",
    "주문번호 2024031512345678 조회해 주세요",
    "운송장 번호 6012-3456-7890 조회해주세요",
    "송장번호 123456789012 배송 상태 알려주세요",
    "사업자등록번호 123-45-67890 으로 세금계산서 가능한가요?",
    "쿠폰 코드 SALE2024 적용이 안 돼요",
    "모델명 SM-G991N 재고 있나요?",
    "바코드 8801115123456 상품 있나요?",
    "상품코드 8801234567890 재고 있어요?",
    "ISBN 978-89-364-3412-0 책 재고 있나요?",
    "978-89-364-3412-0 이 책 언제 입고돼요?",
    "영수증 번호 2024-0315-0001-23 재발급해 주세요",
    # Prices, quantities, dates, times, postal codes
    "이 상품 29,900원 맞나요?",
    "배송비 3,000원 따로 내야 하나요?",
    "총 1,234,500원 결제됐는데 맞아요?",
    "2024-03-15에 주문했어요",
    "2024.03.15 주문 건 문의드려요",
    "2024년 3월 15일에 받았어요",
    "오후 3시 30분까지 주문하면 오늘 출발해요?",
    "14:30 이후 주문은 내일 발송인가요?",
    "3개 주문했는데 2개만 왔어요",
    "10% 할인 쿠폰 어디서 받아요?",
    "1+1 행사 언제까지예요?",
    "우편번호 06236 으로 배송 가능한가요?",
    "110 사이즈 하나 더 주문할게요",
    "적립금 5000포인트 언제 들어와요?",
    # A 16-digit number that fails Luhn, with no account word near it
    "1234 5678 9012 3456 이 번호 뭐예요?",
    "상품권 번호 1234567812345678 등록이 안 돼요",
    # Plain FAQ questions
    "택배 언제 와요?",
    "반품 기간이 며칠이에요?",
    "교환하려면 어떻게 해야 하나요?",
    "환불은 얼마나 걸려요?",
    "회원 탈퇴는 어디서 하나요?",
    "배송지 변경 가능한가요?",
    "우리 아이가 쓸 건데 사이즈 추천해 주세요",
    "하나만 더 물어볼게요",
    "카드 결제 취소하면 언제 환불돼요?",
    "계좌이체로 결제할 수 있나요?",
    "여권 사진 규격 알려주세요",
    "여권 만료일 20301231 이면 괜찮나요?",
    "이메일 주소 변경은 어떻게 하나요?",
]
