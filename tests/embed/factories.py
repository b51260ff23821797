"""Small builders of documents and files for the embed tests."""

import uuid

SHIPPING_TEXT = (
    "# 배송 기간 안내\n\n"
    "주문하신 상품은 결제 완료 후 평일 기준 1~2일 안에 출고됩니다. "
    "출고 후 택배사 사정에 따라 보통 2~3일 안에 받아보실 수 있습니다.\n\n"
    "제주 및 도서산간 지역은 배송 기간이 2~3일 더 걸릴 수 있습니다. "
    "배송 조회는 마이페이지의 주문 내역에서 하실 수 있습니다."
)


def unique_marker() -> str:
    """A made-up word that no other test's document contains."""
    return "표식" + uuid.uuid4().hex[:10]


def document_json(*, marker: str | None = None, title: str | None = None) -> dict[str, str]:
    marker = marker or unique_marker()
    return {"title": title or f"배송 기간 안내 {marker}", "content": f"{SHIPPING_TEXT}\n\n{marker}"}


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF whose content stream shows ``text`` (ASCII) in Helvetica."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += f"{number} 0 obj\n".encode() + content + b"\nendobj\n"
    xref_at = len(body)
    body += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    body += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    body += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n"
    ).encode()
    return body
