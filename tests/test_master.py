"""The master workbook: text stays text, the .xlsm keeps its macros and buttons, a locked or read-only target is refused
and left byte-identical, backups are kept (at most five), and the sink's formatting."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
import xlwings
from click.testing import CliRunner
from lo import needs_soffice
from oletools.olevba import VBA_Parser
from python_calamine import CalamineWorkbook
from thidua.catalogue import default_catalogue
from thidua.cli import app
from thidua.demo import make_inbox
from thidua.errors import ThiDuaError
from thidua.master import MASTER_SHEETS, SHEET_SUMMARY
from thidua.office import convert
from thidua.period import Period
from thidua.sink import KEEP_BACKUPS, OpenpyxlSink, backups, check_target

PERIOD = Period(2024, 9)
CAT = default_catalogue()


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("master")
    make_inbox(CAT, PERIOD, tmp / "forms", tmp / "inbox")
    return tmp / "inbox"


def consolidate_cli(inbox: Path, *extra: str):
    ledger = inbox.parent / f"ledger-{len(list(inbox.parent.glob('ledger-*')))}.sqlite"
    return CliRunner().invoke(app, ["consolidate", str(inbox), "--period", "2024-09", "--workers", "0",
                                    "--ledger", str(ledger), *extra])


def make_xlsm(path: Path, tmp: Path) -> Path:
    """A macro workbook as the project builds it: a VBA project, a form button, a sheet of its own, and an old
    "Tổng hợp" sheet at position 2 that consolidation must replace in place."""
    with zipfile.ZipFile(Path(xlwings.__file__).parent / "quickstart_standalone.xlsm") as z:
        vba = tmp / "vbaProject.bin"
        vba.write_bytes(z.read("xl/vbaProject.bin"))
    wb = xlsxwriter.Workbook(path)
    panel = wb.add_worksheet("Bảng điều khiển")
    panel.write("A1", "Bấm nút để tổng hợp")
    panel.insert_button("B3", {"macro": "SampleCall", "caption": "Tổng hợp", "width": 140, "height": 30})
    old = wb.add_worksheet(SHEET_SUMMARY)
    old.write("A1", "bảng cũ sẽ được thay")
    notes = wb.add_worksheet("Ghi chú")
    notes.write("A1", "Trang riêng của văn phòng, phải giữ nguyên")
    notes.write("B2", 42)
    wb.add_vba_project(str(vba))
    wb.close()
    return path


def vba_modules(path: Path) -> list[tuple[str, str]]:
    parser = VBA_Parser(str(path))
    try:
        return sorted((name, code.replace("\r\n", "\n").strip()) for _f, _s, name, code in parser.extract_macros())
    finally:
        parser.close()


def test_formula_like_text_from_a_unit_is_text(inbox, tmp_path):
    out = tmp_path / "m.xlsx"
    result = consolidate_cli(inbox, "--out", str(out))
    assert result.exit_code == 1, result.output
    ws = openpyxl.load_workbook(out)[SHEET_SUMMARY]
    hits = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=HYPERLINK(")]
    assert hits and all(c.data_type == "s" for c in hits)
    with zipfile.ZipFile(out) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        assert not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in sheets)


def test_sink_writes_text_as_text_and_formats(tmp_path):
    out = tmp_path / "t.xlsx"
    sink = OpenpyxlSink(out, keep_vba=False)
    rows = [["=1+1", "+84 912", "-5 ngày", "@x", 3, 2.5, dt.date(2024, 9, 5), dt.datetime(2024, 9, 5, 8, 30), None],
            ["a\x0bb & <c>", 7, "1.10", "Đạt", True, 0.5, None, None, "x" * 200]]
    header = ["Chữ", "Mã", "Ghi chú", "Khác", "Số", "Tỷ lệ", "Ngày", "Lúc", "Dài"]
    sink.write_table("Bảng", header, rows, widths=[12, 8, 10, 10, 8, 8, 12, 16, 40], freeze="B2",
                     text_columns=(1,), number_formats={5: "0.0%"}, fills={"Đạt": "C6EFCE"}, title="Thử & in")
    sink.add_chart("Bảng", title="Biểu đồ", categories=0, values=4, first_row=0, last_row=1, anchor="K2")
    assert sink.save() is None
    wb = openpyxl.load_workbook(out)
    ws = wb["Bảng"]
    assert [c.value for c in ws[1]] == header and ws["A1"].font.b
    assert [ws.cell(2, c).value for c in range(1, 5)] == ["=1+1", "+84 912", "-5 ngày", "@x"]
    assert all(ws.cell(2, c).data_type == "s" for c in range(1, 5))
    assert ws["B3"].value == "7" and ws["B3"].data_type == "s"  # a text column
    assert ws["C3"].value == "1.10" and ws["A3"].value in ("a_x000B_b & <c>", "a\x0bb & <c>")
    assert ws["E2"].value == 3 and ws["F2"].value == 2.5 and ws["F2"].number_format == "0.0%"
    assert ws["G2"].value == dt.datetime(2024, 9, 5) and ws["G2"].number_format == "dd/mm/yyyy"
    assert ws["H2"].value == dt.datetime(2024, 9, 5, 8, 30) and ws["E3"].value is True
    assert ws["D3"].fill.fgColor.rgb.endswith("C6EFCE") and not ws["A3"].fill.fgColor.rgb.endswith("C6EFCE")
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref == "A1:I3" and ws.print_title_rows == "$1:$1"
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == int(ws.PAPERSIZE_A4)
    assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.column_dimensions["I"].width == 40 and ws.row_dimensions[3].height > 15
    assert ws.max_row == 3  # no prototype row is left behind
    with zipfile.ZipFile(out) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert charts and b"barChart" in z.read(charts[0])
    values = CalamineWorkbook.from_path(str(out)).get_sheet_by_name("Bảng").to_python()
    assert values[1][:4] == ["=1+1", "+84 912", "-5 ngày", "@x"]


def test_the_same_rows_write_the_same_sheets_whatever_the_hash_seed(tmp_path):
    """A sheet's texts enter the string table in the order they first appear, not in the order of a set (which
    changes with Python's hash seed from run to run): the same rows, the same bytes."""
    script = (
        "import sys, zipfile\n"
        "from pathlib import Path\n"
        "from thidua.sink import OpenpyxlSink\n"
        "out = Path(sys.argv[1])\n"
        "sink = OpenpyxlSink(out, keep_vba=False)\n"
        "rows = [[f'Nội dung {n % 7}', f'Đơn vị {n % 11}', n] for n in range(60)]\n"
        "sink.write_table('Bảng', ['Nội dung', 'Đơn vị', 'Số'], rows)\n"
        "sink.save()\n"
        "with zipfile.ZipFile(out) as z:\n"
        "    sys.stdout.write(z.read('xl/sharedStrings.xml').decode() + z.read('xl/worksheets/sheet1.xml').decode())\n"
    )
    got = []
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", script, str(tmp_path / f"{seed}.xlsx")], capture_output=True,
                             text=True, env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        got.append(run.stdout)
    assert "Nội dung 0</t></si><si><t xml:space=\"preserve\">Nội dung 1<" in got[0]
    assert got[0] == got[1] == got[2]


def test_a_frozen_string_table_counts_the_references_it_gives():
    """Rows rendered against the base of the string table alone (a block of "Tổng hợp") write any other text inline:
    the table's reference count takes each text cell of the base, once per cell, and no inline text, empty cell or
    None; a column of texts each its own is counted in one pass."""
    from thidua import sink

    strings = sink._Strings(["Đạt", "Không đạt"])
    view = strings.frozen()
    table = sink._Table("Bảng", ["Cột"], [], frozenset({0}), {})
    styles = {(sink.TEXT, None): [' s="1"'], (sink.NUMBER, None): [' s="2"']}
    values = ("Đạt", None, "ghi chú 1", "", "Không đạt", "ghi chú 1", "Đạt", "ghi chú 2", None,
              *(f"giải trình {i}" for i in range(3000)))
    cells = sink._column_xml(values, [str(r) for r in range(2, 2 + len(values))], 0, "A", styles, table, view)
    assert view.refs == 3 and len(strings.index) == 2
    assert cells[0] == '<c r="A2" s="1" t="s"><v>0</v></c>' and cells[1] == cells[3] == ""
    assert cells[2] == '<c r="A4" s="1" t="inlineStr"><is><t xml:space="preserve">ghi chú 1</t></is></c>'


def test_master_headings_are_vietnamese_nfc(inbox, tmp_path):
    out = tmp_path / "m.xlsx"
    consolidate_cli(inbox, "--out", str(out))
    wb = CalamineWorkbook.from_path(str(out))
    assert wb.sheet_names == list(MASTER_SHEETS)
    for name in wb.sheet_names:
        assert unicodedata.is_normalized("NFC", name)
        header = wb.get_sheet_by_name(name).to_python()[0]
        assert all(isinstance(h, str) and h and unicodedata.is_normalized("NFC", h) for h in header)


def test_xlsm_keeps_macros_buttons_and_other_sheets(inbox, tmp_path):
    book = make_xlsm(tmp_path / "ThiDua2024.xlsm", tmp_path)
    modules = vba_modules(book)
    assert modules
    code_name = openpyxl.load_workbook(book, keep_vba=True)[SHEET_SUMMARY].sheet_properties.codeName
    assert code_name
    result = consolidate_cli(inbox, "--workbook", str(book))
    assert result.exit_code == 1, result.output
    assert vba_modules(book) == modules
    with zipfile.ZipFile(book) as z:
        names = z.namelist()
        assert "xl/vbaProject.bin" in names
        vml = [n for n in names if "vmlDrawing" in n]
        assert vml and any(b"Button" in z.read(n) and b"SampleCall" in z.read(n) for n in vml)
        assert b"macroEnabled" in z.read("[Content_Types].xml")
    wb = openpyxl.load_workbook(book, keep_vba=True)
    assert wb.sheetnames == ["Bảng điều khiển", SHEET_SUMMARY, "Ghi chú", *MASTER_SHEETS[1:]]
    assert wb["Ghi chú"]["A1"].value == "Trang riêng của văn phòng, phải giữ nguyên" and wb["Ghi chú"]["B2"].value == 42
    assert wb[SHEET_SUMMARY]["A1"].value == "Mã đơn vị" and wb[SHEET_SUMMARY].max_row > 100
    assert wb[SHEET_SUMMARY].sheet_properties.codeName == code_name  # its VBA document module stays attached


@needs_soffice
def test_xlsm_opens_in_libreoffice(inbox, tmp_path):
    book = make_xlsm(tmp_path / "ThiDua2024.xlsm", tmp_path)
    assert consolidate_cli(inbox, "--workbook", str(book)).exit_code == 1
    pdf = convert(book, tmp_path / "pdf", "pdf")[0]
    assert pdf.stat().st_size > 10_000


@pytest.mark.parametrize("how", ["locked", "read-only"])
def test_refusal_leaves_the_workbook_byte_identical(inbox, tmp_path, how):
    book = make_xlsm(tmp_path / "ThiDua2024.xlsm", tmp_path)
    before = book.read_bytes()
    if how == "locked":
        (tmp_path / "~$ThiDua2024.xlsm").write_bytes(b"\x0cNguyen Thi Hoa")
        expected = "đang được mở trong Excel"
    else:
        book.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        expected = "chỉ đọc"
    ledger = tmp_path / "ledger.sqlite"
    result = CliRunner().invoke(app, ["consolidate", str(inbox), "--period", "2024-09", "--ledger", str(ledger),
                                      "--workbook", str(book)])
    assert result.exit_code == 2
    assert expected in " ".join(result.output.split()) and "Traceback" not in result.output
    assert book.read_bytes() == before
    assert not ledger.exists() and not (tmp_path / ".backup").exists()


def test_check_target_refuses_a_missing_workbook_and_a_bad_suffix(tmp_path):
    with pytest.raises(ThiDuaError, match="Không tìm thấy sổ tổng hợp"):
        check_target(tmp_path / "none.xlsm", must_exist=True)
    with pytest.raises(ThiDuaError, match=r"\.xlsx"):
        OpenpyxlSink(tmp_path / "a.xlsm", keep_vba=False)


def test_backups_keep_the_previous_master_and_at_most_five(inbox, tmp_path):
    out = tmp_path / "tong-hop.xlsx"
    consolidate_cli(inbox, "--out", str(out))
    assert not backups(out)
    previous = out.read_bytes()
    consolidate_cli(inbox, "--out", str(out))
    kept = backups(out)
    assert len(kept) == 1 and kept[0].read_bytes() == previous and kept[0].parent.name == ".backup"
    assert oct(os.stat(out).st_mode & 0o777) == oct(os.stat(kept[0]).st_mode & 0o777)
    for _ in range(KEEP_BACKUPS + 2):
        previous = out.read_bytes()
        sink = OpenpyxlSink(out)
        sink.write_table("Bảng", ["A"], [["x"]])
        last = sink.save()
        assert last is not None and last.read_bytes() == previous
    kept = backups(out)
    assert len(kept) == KEEP_BACKUPS and kept[-1] == last


def test_the_compressing_thread_keeps_the_order_and_hands_back_its_error():
    import sys
    import zlib

    from thidua.sink import _FINAL_BLOCK, Piece, _deflated, crc32_combine, deflate_piece

    interval = sys.getswitchinterval()
    blocks = [bytes([i]) * (i * 97) for i in range(50)]
    cached = deflate_piece(b"from a cache")
    pieces = list(_deflated([*blocks[:25], cached, *blocks[25:]]))
    assert pieces[25] is cached and sys.getswitchinterval() == interval
    raw = b"".join([*blocks[:25], b"from a cache", *blocks[25:]])
    assert zlib.decompress(b"".join(p.data for p in pieces) + _FINAL_BLOCK, -15) == raw
    crc = 0
    for piece in pieces:
        crc = crc32_combine(crc, piece.crc, piece.size)
    assert crc == zlib.crc32(raw)

    def failing():
        yield b"x"
        raise OSError("ổ đĩa đầy")

    with pytest.raises(OSError, match="ổ đĩa đầy"):
        list(_deflated(failing()))
    assert sys.getswitchinterval() == interval
    assert isinstance(pieces[0], Piece)


def test_sink_keeps_a_carriage_return_and_a_literal_escape_like_text(tmp_path):
    """A raw CR in XML text reads back as LF, and Excel decodes "_x0041_" as "A": the sink writes a character
    reference and escapes the underscore, so python-calamine and LibreOffice (which decode like Excel) read back
    exactly what the unit typed."""
    out = tmp_path / "cr.xlsx"
    sink = OpenpyxlSink(out, keep_vba=False)
    texts = ["\r=1+1", "a\r\nb", "_x0041_ và _x000D_", "\t@SUM(1)"]
    sink.write_table("Bảng", ["Ghi chú"], [[t] for t in texts], widths=[20])
    sink.save()
    values = CalamineWorkbook.from_path(str(out)).get_sheet_by_name("Bảng").to_python()
    assert [row[0] for row in values[1:]] == texts
