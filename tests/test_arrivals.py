"""Arrivals: unit files saved as e-mails (.eml) or packed in zips are taken out safely, dated, and never stop a run."""

from __future__ import annotations

import datetime as dt
import os
import zipfile
from email.message import EmailMessage
from email.utils import format_datetime

from thidua.arrivals import MAX_ATTACHMENT_BYTES, SEPARATOR, collected
from thidua.ledger import RECEIVED_BATCH, RECEIVED_EMAIL, RECEIVED_MTIME

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def email(path, attachments, sent=None):
    message = EmailMessage()
    message["From"] = "vanthu@example.invalid"
    message["Subject"] = "Báo cáo"
    if sent is not None:
        message["Date"] = format_datetime(sent)
    message.set_content("Kính gửi")
    for name, data in attachments:
        maintype, subtype = XLSX.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    path.write_bytes(bytes(message))
    return path


def test_an_email_gives_its_spreadsheets_dated_by_the_date_header(tmp_path):
    sent = dt.datetime(2024, 9, 23, 9, 15, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    eml = email(tmp_path / "thư.eml", [("ThiDua_2024-09_VP.xlsx", b"PK one"), ("../../../etc/x.xlsx", b"PK two"),
                                       ("ghi chú.pdf", b"%PDF")], sent)
    with collected([eml], received=dt.date(2024, 9, 30)) as (arrivals, skipped):
        assert [a.name for a in arrivals] == ["ThiDua_2024-09_VP.xlsx", "x.xlsx"]  # no path, no PDF
        assert all(a.received_on == sent.astimezone().date() and a.received_how == RECEIVED_EMAIL for a in arrivals)
        assert all(a.container == "thư.eml" and a.origin == f"{eml}{SEPARATOR}{a.name}" for a in arrivals)
        assert [a.path.read_bytes() for a in arrivals] == [b"PK one", b"PK two"]
        assert all(tmp_path not in a.path.parents for a in arrivals)  # taken out elsewhere, never into the inbox
        folder = arrivals[0].path.parent.parent
        assert not skipped
    assert not folder.exists()  # removed on leaving


def test_an_email_without_date_or_spreadsheet(tmp_path):
    undated = email(tmp_path / "a.eml", [("ThiDua_2024-09_VP.xlsx", b"PK")])
    empty = email(tmp_path / "b.eml", [])
    with collected([undated, empty], received=dt.date(2024, 9, 24)) as (arrivals, skipped):
        assert [(a.received_on, a.received_how) for a in arrivals] == [(dt.date(2024, 9, 24), RECEIVED_BATCH)]
        assert [k.name for k in skipped] == ["b.eml"] and "không có tệp biểu" in skipped[0].message


def test_zips_bounded_and_broken_ones_reported(tmp_path):
    good = tmp_path / "goi.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("thu-muc/ThiDua_2024-09_VP.xlsx", b"PK data")
        zf.writestr("~$ThiDua_2024-09_VP.xlsx", b"owner")
        zf.writestr("big.xlsx", b"\0" * (MAX_ATTACHMENT_BYTES + 10))
        zf.writestr("readme.txt", b"x")
    broken = tmp_path / "hong.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    plain = tmp_path / "ThiDua_2024-09_KHTC.xlsx"
    plain.write_bytes(b"PK plain")
    os.utime(plain, (1_727_000_000, 1_727_000_000))
    with collected([good, broken, plain]) as (arrivals, skipped):
        assert [a.name for a in arrivals] == ["ThiDua_2024-09_VP.xlsx", "ThiDua_2024-09_KHTC.xlsx"]
        assert arrivals[0].container == "goi.zip" and arrivals[1].container is None
        assert arrivals[1].received_how == RECEIVED_MTIME
        assert arrivals[1].received_on is None  # the ledger takes the mtime's day
        messages = {k.name: k.message for k in skipped}
    assert "lớn hơn" in messages["goi.zip"] and "không mở được tệp nén" in messages["hong.zip"]


def test_a_file_gone_between_listing_and_hashing_is_skipped_not_lost(tmp_path):
    gone = tmp_path / "ThiDua_2024-09_VP.xlsx"
    with collected([gone]) as (arrivals, skipped):
        assert arrivals == [] and "lần chạy sau sẽ đọc lại" in skipped[0].message


def test_the_same_name_twice_in_one_email(tmp_path):
    eml = email(tmp_path / "c.eml", [("ThiDua_2024-09_VP.xlsx", b"PK 1"), ("ThiDua_2024-09_VP.xlsx", b"PK 2")],
                dt.datetime(2024, 9, 20, tzinfo=dt.UTC))
    with collected([eml]) as (arrivals, _skipped):
        assert [a.name for a in arrivals] == ["ThiDua_2024-09_VP.xlsx", "ThiDua_2024-09_VP (2).xlsx"]
        assert len({a.sha256 for a in arrivals}) == 2


def test_a_mangled_email_never_stops_the_run(tmp_path):
    eml = tmp_path / "x.eml"
    eml.write_bytes(b"Content-Type: multipart/mixed; boundary=\"\xff\"\r\n\r\n--\xff\r\n" + b"\x00" * 50)
    with collected([eml]) as (arrivals, skipped):
        assert arrivals == [] and [k.name for k in skipped] == ["x.eml"]
