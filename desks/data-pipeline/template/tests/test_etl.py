from etl.normalize import cents, iso_date, normalize_row
from etl.validate import problems


def test_cents_rounds_and_rejects_text() -> None:
    assert cents(" 12.50 ") == 1250
    assert cents("7") == 700
    assert cents("twelve") is None


def test_iso_date() -> None:
    assert iso_date("2026-01-05") == "2026-01-05"
    assert iso_date("yesterday") is None


def test_normalize_row_trims_and_lowercases() -> None:
    row = normalize_row({"id": " 1 ", "customer_email": " Ada@Example.com ", "amount": "1", "ordered_at": "2026-01-05"})
    assert row["id"] == "1"
    assert row["customer_email"] == "ada@example.com"
    assert row["amount_cents"] == 100


def test_quality_rules_catch_each_problem() -> None:
    good = {"id": "1", "customer_email": "a@example.com", "amount_cents": 1, "ordered_at": "2026-01-01", "_source": "r1"}
    dup = {**good, "_source": "r2"}
    bad = {"id": "3", "customer_email": "nope", "amount_cents": -1, "ordered_at": None, "_source": "r3"}
    rules = sorted(p["rule"] for p in problems([good, dup, bad]))
    assert rules == ["amount_non_negative", "date_iso", "email_format", "id_unique"]
