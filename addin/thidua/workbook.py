"""Builder of the secretary's macro workbook ``workbook/ThiDua2024.xlsm``, from text only.

Inputs: the VBA sources in ``macros/`` (ASCII, one ``RunPython`` line per button), xlwings' own standalone modules
``xlwings.bas`` and ``Dictionary.cls`` taken from the installed (pinned) xlwings package at build time, the ribbon
``data/customUI.xml`` and the catalogue (units and indicators sheets). Output: a .xlsm written by XlsxWriter, with the
ribbon part added afterwards (XlsxWriter cannot add it).

The build is reproducible: the same inputs give the same parts (fixed document dates, fixed zip entry dates and
attributes, a deterministic ``vbaProject.bin``), which ``tools/check_workbook.py`` uses to prove the committed workbook
was built from the committed sources.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import xlsxwriter

from .atomic import atomic_path
from .catalogue import Catalogue, default_catalogue
from .errors import ThiDuaError
from .vba import VbaModule, build_vba_project, modules_from_dir

ROOT = Path(__file__).resolve().parents[2]  # the checkout: addin/thidua/workbook.py -> .
MACROS_DIR = ROOT / "macros"
DEFAULT_OUT = Path("workbook") / "ThiDua2024.xlsm"
PROJECT_NAME = "VBAProject"
#: Dates stamped into docProps/core.xml and on every zip entry: fixed, so that a rebuild gives the same parts.
FIXED_CREATED = dt.datetime(2024, 1, 1, 0, 0, 0)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

RIBBON_PART = "customUI/customUI.xml"
RIBBON_REL_TYPE = "http://schemas.microsoft.com/office/2006/relationships/ui/extensibility"
RIBBON_REL_ID = "rIdThiDuaRibbon"

# --- sheets --------------------------------------------------------------------------------------------------------

SHEET_CONTROL = "Bảng điều khiển"
SHEET_SUMMARY = "Tổng hợp"
SHEET_BY_TARGET = "Theo nội dung"
SHEET_STATUS = "Tình hình nộp"
SHEET_RECEIVED = "Tệp đã nhận"
SHEET_FINDINGS = "Kết quả kiểm tra"
SHEET_UNITS = "Đơn vị"
SHEET_CATALOGUE = "Danh mục chỉ tiêu"
SHEET_XLWINGS = "xlwings.conf"  # exact name: xlwings' standalone module reads its settings from it
MASTER_SHEETS = (SHEET_SUMMARY, SHEET_BY_TARGET, SHEET_STATUS, SHEET_RECEIVED, SHEET_FINDINGS)
SHEETS = (SHEET_CONTROL, *MASTER_SHEETS, SHEET_UNITS, SHEET_CATALOGUE, SHEET_XLWINGS)
CONTROL_CODENAME = "ControlSheet"  # document module macros/ControlSheet.cls

#: What each master sheet shows until the first consolidation fills it.
MASTER_PLACEHOLDER = {
    SHEET_SUMMARY: "Tổng hợp kết quả thực hiện bảy nội dung thi đua của các đơn vị trong kỳ.",
    SHEET_BY_TARGET: "Số liệu từng chỉ tiêu của từng đơn vị, theo nội dung thi đua.",
    SHEET_STATUS: "Tình hình nộp báo cáo của các đơn vị, từng tháng từ đầu năm.",
    SHEET_RECEIVED: "Các tệp đã nhận từ đầu năm: ngày nhận, tệp đang dùng, bản sửa, tệp bị trả lại.",
    SHEET_FINDINGS: "Kết quả kiểm tra các tệp đơn vị gửi về: lỗi, cảnh báo và vị trí ô.",
}
EMPTY_HINT = "Chưa có dữ liệu: bấm nút “Tổng hợp” (hoặc “Kiểm tra hộp thư”) trên trang “Bảng điều khiển”."


@dataclass(frozen=True)
class Setting:
    """One labelled settings cell of the control sheet, read by the bridge through its workbook-level name."""

    name: str
    label: str
    default: str
    hint: str
    choices: tuple[str, ...] = ()


KIND_SO_KET, KIND_TONG_KET = "sơ kết", "tổng kết"
SETTINGS = (
    Setting("TD_Inbox", "Thư mục hộp thư đến", "",
            "Để trống: thư mục mang tên kỳ báo cáo (ví dụ 2024-09) cạnh bảng tính — mỗi tháng một hộp thư, sổ theo "
            "dõi của cả năm cạnh bảng tính. Hoặc ghi đường dẫn (tương đối tính từ thư mục chứa bảng tính)."),
    Setting("TD_Period", "Kỳ báo cáo (NNNN-TT)", "2024-09",
            "Tháng báo cáo, dạng năm-tháng, ví dụ 2024-09 là tháng 9 năm 2024."),
    Setting("TD_Kind", "Loại báo cáo", KIND_SO_KET,
            "“sơ kết”: báo cáo hằng tháng; “tổng kết”: báo cáo cuối năm (chọn trong danh sách).",
            (KIND_SO_KET, KIND_TONG_KET)),
    Setting("TD_Ledger", "Sổ theo dõi (tệp lưu hồ sơ đã nhận)", "thidua-ledger.sqlite",
            "Tệp lưu mọi tệp đã nhận, số liệu và kết quả kiểm tra. Không xóa, không sửa tay."),
    Setting("TD_Output", "Thư mục kết quả", "ket-qua",
            "Nơi ghi biểu trắng, báo cáo và phụ lục. Chưa có thì chương trình tự tạo."),
    Setting("TD_Units", "Danh sách đơn vị (tệp .toml)", "",
            "Để trống: dùng danh sách đơn vị kèm theo chương trình. Điền đường dẫn tệp danh sách thật của Sở."),
)
STATUS_NAME = "TD_Status"
STATUS_READY = "Sẵn sàng. Điền phần thiết lập rồi bấm một nút bên dưới."


@dataclass(frozen=True)
class Button:
    macro: str  # a Sub of macros/Buttons.bas
    caption: str
    description: str


BUTTONS = (
    Button("MakeForms", "Tạo biểu cho đơn vị",
           "Tạo biểu báo cáo (.xlsx) của kỳ đã chọn cho mọi đơn vị, ghi vào thư mục kết quả (thư mục con “bieu”)."),
    Button("ValidateInbox", "Kiểm tra hộp thư đến",
           "Đọc và kiểm tra mọi tệp trong hộp thư đến; lỗi và cảnh báo ghi vào trang “Kết quả kiểm tra”. "
           "Không ghi gì vào sổ theo dõi."),
    Button("Consolidate", "Tổng hợp",
           "Kiểm tra các tệp mới, ghi vào sổ theo dõi rồi điền các trang “Tổng hợp”, “Theo nội dung”, "
           "“Tình hình nộp” và “Kết quả kiểm tra”."),
    Button("WriteReport", "Viết báo cáo",
           "Viết báo cáo sơ kết / tổng kết (.docx) và phụ lục (.xlsx) của kỳ đã chọn vào thư mục kết quả."),
    Button("OpenOutput", "Mở thư mục kết quả", "Mở thư mục kết quả trong File Explorer."),
)

# --- xlwings.conf ----------------------------------------------------------------------------------------------------

#: (key, value, explanation). The standalone module reads column A (key) and B (value) from A1 down to the first
#: empty row; column C is for people. Booleans stay booleans: xlwings compares them with True/False.
INSTALL_DIR = r"C:\ThiDua2024"  # the install folder cai-dat.bat makes (ASCII, outside the user profile and OneDrive)
XLWINGS_CONF: tuple[tuple[str, object, str], ...] = (
    ("Interpreter_Win", INSTALL_DIR + r"\.venv\Scripts\pythonw.exe",
     "Đường dẫn tới pythonw.exe trong thư mục cài đặt (tệp cai-dat.bat tạo ra và tự điền ô này). Không dùng đường "
     "dẫn trong thư mục người dùng (C:\\Users\\…): tên người dùng có dấu làm hỏng lệnh gọi Python."),
    # xlwings.bas: TempDir = GetConfig("TEMP DIR", Environ("Temp")): its log of Python's stderr goes there; VBA's file
    # functions are not Unicode-safe, so %TEMP% under a user name with Vietnamese letters would break every button.
    ("TEMP DIR", INSTALL_DIR + r"\tmp",
     "Thư mục tạm của xlwings, trong thư mục cài đặt, không dấu (cai-dat.bat tạo ra). Không để %TEMP%: tên người "
     "dùng có dấu làm hỏng nút bấm."),
    ("Interpreter_Mac", "", "Đường dẫn tới python trên máy Mac. Máy Windows để trống."),
    ("PYTHONPATH", "",
     "Thư mục bổ sung cho Python tìm mô-đun, cách nhau bằng dấu chấm phẩy. Để trống: thidua đã cài bằng pip."),
    ("ADD_WORKBOOK_TO_PYTHONPATH", False,
     "Có thêm thư mục chứa bảng tính vào đường tìm mô-đun của Python không. Để FALSE: không cần, và tránh lỗi "
     "khi bảng tính nằm trong OneDrive/SharePoint."),
    ("Conda Path", "", "Chỉ khi cài Python bằng Anaconda/Miniconda: thư mục cài Conda. Dùng venv thì để trống."),
    ("Conda Env", "", "Chỉ khi dùng Conda: tên môi trường Conda đã cài thidua. Dùng venv thì để trống."),
    ("UDF Modules", "", "Không dùng (ThiDua không có hàm tự định nghĩa trong ô)."),
    ("Debug UDFs", False, "Không dùng; để FALSE."),
    ("Use UDF Server", False, "Để FALSE: mỗi lần bấm nút chạy một tiến trình Python riêng rồi đóng lại."),
    ("Show Console", False, "TRUE: hiện cửa sổ dòng lệnh khi chạy Python (chỉ dùng khi cần tìm lỗi)."),
    ("ONEDRIVE_CONSUMER_WIN", "",
     "Chỉ cần khi ADD_WORKBOOK_TO_PYTHONPATH là TRUE và bảng tính nằm trong OneDrive cá nhân: thư mục OneDrive "
     "trên máy, ví dụ %USERPROFILE%\\OneDrive."),
    ("ONEDRIVE_COMMERCIAL_WIN", "", "Như trên, với OneDrive của cơ quan (OneDrive for Business)."),
    ("SHAREPOINT_WIN", "", "Như trên, với thư viện SharePoint được đồng bộ về máy."),
)
XLWINGS_CONF_NOTES = (
    "Hướng dẫn:",
    "Trang này là cấu hình của xlwings (cầu nối giữa Excel và Python). Tên trang phải đúng là “xlwings.conf”.",
    "Cột A là tên thiết lập, cột B là giá trị, cột C là giải thích. Các thiết lập phải bắt đầu từ ô A1, liền nhau, "
    "không chèn dòng trống.",
    "Tệp cai-dat.bat tự điền ô B1 (Interpreter_Win) và B2 (TEMP DIR) theo thư mục cài đặt; thường không cần sửa.",
    "Xóa một dòng thì xlwings dùng giá trị trong tệp xlwings.conf cạnh bảng tính, rồi của người dùng, rồi mặc định.",
)

# --- catalogue sheets ------------------------------------------------------------------------------------------------

UNIT_KIND_VI = {"phong": "Phòng thuộc Sở", "don-vi": "Đơn vị thuộc Sở"}
INDICATOR_KIND_VI = {"count": "Số", "yesno": "Có/Không", "date": "Ngày", "text": "Chữ",
                     "choice": "Chọn trong danh sách"}
PERIOD_VI = {"month": "Tháng", "ytd": "Lũy kế"}
DATE_SCOPE_VI = {"period": "trong kỳ báo cáo", "year_to_period": "từ đầu năm đến hết kỳ"}


def _rule_text(name: str, value: object) -> str:
    if name == "max":
        return f"không lớn hơn chỉ tiêu {value}"
    if name == "numerator_of":
        return f"là một phần của chỉ tiêu {value}"
    if name == "target":
        return f"mục tiêu: {value}" if value != 0 else "mục tiêu: bằng 0"
    if name == "sum_of":
        return "bằng tổng các chỉ tiêu " + ", ".join(map(str, value))  # type: ignore[call-overload]
    if name == "date_within":
        return f"ngày {DATE_SCOPE_VI.get(str(value), value)}"
    if name == "max_length":
        return f"tối đa {value} ký tự"
    return f"{name}: {value}"


def unit_rows(cat: Catalogue) -> tuple[list[str], list[list[str]]]:
    header = ["Mã đơn vị", "Tên đơn vị", "Loại"]
    return header, [[u.code, u.name, UNIT_KIND_VI.get(u.kind, u.kind)] for u in cat.units]


def catalogue_rows(cat: Catalogue) -> tuple[list[str], list[list[str]]]:
    header = ["Nội dung", "Tên nội dung", "Mã chỉ tiêu", "Chỉ tiêu", "Đơn vị tính", "Kiểu", "Bắt buộc", "Số liệu",
              "Quy tắc"]
    rows = []
    for target in cat.targets:
        for ind in target.indicators:
            rows.append([
                str(target.number), target.title, ind.code, ind.name, ind.unit,
                INDICATOR_KIND_VI.get(ind.kind, ind.kind) + (f" ({', '.join(ind.choices)})" if ind.choices else ""),
                "Có" if ind.required else "Không",
                ", ".join(PERIOD_VI.get(p, p) for p in ind.periods),
                "; ".join(_rule_text(k, v) for k, v in ind.rules.items()),
            ])
    return header, rows


# --- VBA project -----------------------------------------------------------------------------------------------------


def xlwings_dir() -> Path:
    import xlwings

    return Path(xlwings.__file__).parent


def xlwings_modules() -> list[VbaModule]:
    """xlwings' standalone modules, from the installed package: ``xlwings`` (RunPython, whose text carries the
    xlwings version) and the class ``Dictionary`` it uses on the Mac (shipped as ``addin/Dictionary.cls``)."""
    base = xlwings_dir()
    files = [base / "xlwings.bas", base / "addin" / "Dictionary.cls"]
    with tempfile.TemporaryDirectory(prefix="thidua-xlwings-") as tmp:  # modules_from_dir reads a whole folder
        for number, file in enumerate(files):
            try:
                (Path(tmp) / f"{number}_{file.name}").write_bytes(file.read_bytes())
            except OSError:
                raise ThiDuaError(f"Gói xlwings ở {base} thiếu {file.name}: cài lại xlwings.") from None
        found = modules_from_dir(tmp)
    if [m.name for m in found] != ["xlwings", "Dictionary"]:
        raise ThiDuaError(f"Gói xlwings ở {base} có xlwings.bas hoặc Dictionary.cls không như mong đợi.")
    return found


def xlwings_bas_version(code: str) -> str | None:
    """The version a ``xlwings.bas`` text declares (``Public Const XLWINGS_VERSION As String = "..."``)."""
    match = re.search(r'XLWINGS_VERSION As String = "([^"]+)"', code)
    return match[1] if match else None


SUB_RE = re.compile(r"^\s*(?:Public\s+|Private\s+)?Sub\s+(\w+)\s*\(", re.IGNORECASE | re.MULTILINE)
ON_ACTION_RE = re.compile(r'onAction="([^"]+)"')


def sheet_codenames() -> dict[str, str]:
    """Sheet name -> VBA code name (XlsxWriter's default ``Sheet<n>`` except for the control sheet)."""
    return {name: CONTROL_CODENAME if name == SHEET_CONTROL else f"Sheet{i + 1}" for i, name in enumerate(SHEETS)}


def project_modules(macros_dir: Path | str = MACROS_DIR, ribbon: bytes | None = None) -> list[VbaModule]:
    """The modules of the workbook's VBA project, in order: ``macros/`` (sorted by file name), an empty document
    module for every sheet that has none there, then xlwings' standalone modules. Refuses a project whose buttons or
    ribbon callbacks name a Sub that is missing (or defined twice)."""
    macros_dir = Path(macros_dir)
    if not macros_dir.is_dir():
        raise ThiDuaError(f"Không tìm thấy thư mục mã VBA “{macros_dir}”.")
    try:
        own = modules_from_dir(macros_dir)
    except ValueError as exc:
        raise ThiDuaError(f"Mã VBA không hợp lệ: {exc}") from None
    names = {m.name.lower() for m in own}
    for m in xlwings_modules():
        if m.name.lower() in names:
            raise ThiDuaError(f"Thư mục {macros_dir} không được chứa mô-đun “{m.name}”: mô-đun này lấy từ gói xlwings "
                              "khi tạo bảng tính.")
    documents = [VbaModule(code, "Option Explicit\n", "document") for code in sheet_codenames().values()
                 if code.lower() not in names]
    if "thisworkbook" not in names:
        documents.insert(0, VbaModule("ThisWorkbook", "Option Explicit\n", "document"))
    modules = [*own, *documents, *xlwings_modules()]
    subs = [name for m in own if m.kind == "standard" for name in SUB_RE.findall(m.code)]
    wanted = [b.macro for b in BUTTONS] + ON_ACTION_RE.findall((ribbon or ribbon_xml()).decode("utf-8"))
    for macro in wanted:
        count = sum(s.lower() == macro.lower() for s in subs)
        if count != 1:
            problem = "không có" if count == 0 else f"có {count} lần"
            raise ThiDuaError(f"Macro “{macro}” (nút bấm hoặc ribbon) {problem} trong các mô-đun của {macros_dir}.")
    return modules


BUILD_PROPERTY = "ThiDuaBuild"


def build_info() -> str:
    """The libraries whose output is inside the workbook: a different version may change the parts (the rebuild
    check then names them)."""
    import xlwings

    return f"XlsxWriter {xlsxwriter.__version__}; xlwings {xlwings.__version__}"


def ribbon_xml() -> bytes:
    return (resources.files("thidua") / "data" / "customUI.xml").read_bytes()


# --- the workbook ----------------------------------------------------------------------------------------------------


def build_workbook(
    out: Path | str = DEFAULT_OUT, macros_dir: Path | str = MACROS_DIR, catalogue: Catalogue | None = None
) -> Path:
    """Build the macro workbook into ``out`` (written atomically); return its path."""
    data = build_workbook_bytes(macros_dir, catalogue)
    out = Path(out)
    if out.suffix.lower() != ".xlsm":
        raise ThiDuaError(f"Tệp bảng tính có macro phải có đuôi .xlsm: “{out}”.")
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    return out


def build_workbook_bytes(macros_dir: Path | str = MACROS_DIR, catalogue: Catalogue | None = None) -> bytes:
    cat = catalogue or default_catalogue()
    ribbon = ribbon_xml()
    project = build_vba_project(project_modules(macros_dir, ribbon), PROJECT_NAME)
    buffer = io.BytesIO()
    wb = xlsxwriter.Workbook(buffer, {"in_memory": True})
    wb.set_properties({"title": "ThiDua 2024 — Bảng điều khiển", "subject": cat.title, "author": "ThiDua 2024",
                       "company": "", "comments": "Tạo bằng lệnh: thidua build-workbook", "created": FIXED_CREATED})
    wb.set_custom_property(BUILD_PROPERTY, build_info())
    wb.add_vba_project(io.BytesIO(project), is_stream=True)
    wb.set_vba_name("ThisWorkbook")
    codenames = sheet_codenames()
    sheets = {}
    for name in SHEETS:
        sheets[name] = wb.add_worksheet(name)
        sheets[name].set_vba_name(codenames[name])
    fm = _Formats(wb)
    _write_control(wb, sheets[SHEET_CONTROL], fm, cat)
    for name in MASTER_SHEETS:
        _write_master_placeholder(sheets[name], fm, name)
    _write_table(sheets[SHEET_UNITS], fm, *unit_rows(cat), widths=[12, 60, 20])
    _write_table(sheets[SHEET_CATALOGUE], fm, *catalogue_rows(cat), widths=[9, 40, 11, 70, 12, 18, 9, 14, 40])
    _write_xlwings_conf(sheets[SHEET_XLWINGS], fm)
    sheets[SHEET_CONTROL].activate()
    wb.close()
    return add_ribbon(buffer.getvalue(), ribbon)


class _Formats:
    def __init__(self, wb: xlsxwriter.Workbook):
        base = {"font_name": "Times New Roman", "font_size": 12, "valign": "vcenter"}

        def f(**kw: object) -> object:
            return wb.add_format({**base, **kw})

        self.title = f(bold=True, font_size=16, font_color="#1F3864")
        self.subtitle = f(italic=True, font_color="#404040")
        self.section = f(bold=True, font_color="#FFFFFF", bg_color="#1F3864", border=1)
        self.label = f(bold=True, border=1, text_wrap=True)
        self.input = f(bg_color="#FFF2CC", border=1, num_format="@", locked=False)
        self.hint = f(italic=True, font_size=11, font_color="#404040", text_wrap=True, border=1)
        self.status = f(bold=True, font_color="#1F3864", bg_color="#E2EFDA", border=1, text_wrap=True)
        self.text = f(text_wrap=True)
        self.note = f(italic=True, font_color="#404040")
        self.header = f(bold=True, bg_color="#D9E1F2", border=1, text_wrap=True, align="center")
        self.cell = f(border=1, text_wrap=True, valign="top")
        self.key = f(border=1, num_format="@")
        self.bool = f(border=1, align="left")


def _write_control(wb: xlsxwriter.Workbook, ws, fm: _Formats, cat: Catalogue) -> None:
    ws.hide_gridlines(2)
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    ws.set_column("A:A", 2)
    ws.set_column("B:B", 34)
    ws.set_column("C:C", 52)
    ws.set_column("D:D", 70)
    ws.write_string("B1", f"{cat.title.upper()} — BẢNG ĐIỀU KHIỂN", fm.title)
    ws.write_string("B2", cat.plan, fm.subtitle)
    row = 3
    ws.write_string(row, 1, "THIẾT LẬP", fm.section)
    ws.write_string(row, 2, "Giá trị (ô nền vàng)", fm.section)
    ws.write_string(row, 3, "Giải thích", fm.section)
    for setting in SETTINGS:
        row += 1
        ws.set_row(row, 33)
        ws.write_string(row, 1, setting.label, fm.label)
        ws.write_string(row, 2, setting.default, fm.input)
        ws.write_string(row, 3, setting.hint, fm.hint)
        wb.define_name(setting.name, f"='{SHEET_CONTROL}'!$C${row + 1}")
        if setting.choices:
            ws.data_validation(row, 2, row, 2, {
                "validate": "list", "source": list(setting.choices),
                "input_title": setting.label, "input_message": "Chọn trong danh sách.",
                "error_title": "Giá trị không hợp lệ", "error_message": "Chỉ chọn: " + " hoặc ".join(setting.choices),
            })
        elif setting.name == "TD_Period":
            ws.data_validation(row, 2, row, 2, {
                "validate": "length", "criteria": "==", "value": 7,
                "input_title": "Kỳ báo cáo", "input_message": "Nhập dạng NNNN-TT, ví dụ 2024-09.",
                "error_title": "Kỳ báo cáo không hợp lệ", "error_message": "Nhập dạng NNNN-TT, ví dụ 2024-09.",
            })
    row += 2
    ws.set_row(row, 48)
    ws.write_string(row, 1, "TRẠNG THÁI", fm.label)
    ws.merge_range(row, 2, row, 3, STATUS_READY, fm.status)
    wb.define_name(STATUS_NAME, f"='{SHEET_CONTROL}'!$C${row + 1}")
    row += 2
    ws.write_string(row, 1, "THAO TÁC", fm.section)
    ws.merge_range(row, 2, row, 3, "Việc nút làm", fm.section)
    for button in BUTTONS:
        row += 1
        ws.set_row(row, 40)
        ws.insert_button(row, 1, {"macro": button.macro, "caption": button.caption, "width": 240, "height": 46,
                                  "x_offset": 4, "y_offset": 4, "description": button.caption})
        ws.merge_range(row, 2, row, 3, button.description, fm.text)
    row += 2
    notes = (
        "Các nút trên cũng có trên thẻ “Thi đua 2024” của thanh công cụ (ribbon).",
        "Mỗi nút chạy chương trình Python thidua. Cài đặt trên máy mới: chạy cai-dat.bat trong bộ cài, xem tệp "
        "“HuongDanCaiDat.pdf” kèm theo (cũng được chép vào thư mục C:\\ThiDua2024).",
        "Khi có lỗi, dòng TRẠNG THÁI cho biết nguyên nhân và cách xử lý.",
    )
    for note in notes:
        ws.write_string(row, 1, note, fm.note)
        row += 1
    ws.set_first_sheet()


def _write_master_placeholder(ws, fm: _Formats, name: str) -> None:
    ws.set_column("A:A", 100)
    ws.write_string("A1", name.upper(), fm.title)
    ws.write_string("A2", MASTER_PLACEHOLDER[name], fm.subtitle)
    ws.write_string("A3", EMPTY_HINT, fm.note)


def _write_table(ws, fm: _Formats, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]) -> None:
    for col, width in enumerate(widths):
        ws.set_column(col, col, width)
    ws.write_row(0, 0, header, fm.header)
    for r, values in enumerate(rows, start=1):
        for c, value in enumerate(values):
            ws.write_string(r, c, value, fm.cell)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, len(rows), len(header) - 1)


def _write_xlwings_conf(ws, fm: _Formats) -> None:
    ws.set_column("A:A", 30)
    ws.set_column("B:B", 44)
    ws.set_column("C:C", 100)
    for row, (key, value, explanation) in enumerate(XLWINGS_CONF):
        ws.write_string(row, 0, key, fm.key)
        if isinstance(value, bool):
            ws.write_boolean(row, 1, value, fm.bool)
        elif value:
            ws.write_string(row, 1, str(value), fm.key)
        else:
            ws.write_blank(row, 1, None, fm.key)
        ws.write_string(row, 2, explanation, fm.text)
    for offset, note in enumerate(XLWINGS_CONF_NOTES):
        ws.write_string(len(XLWINGS_CONF) + 2 + offset, 0, note, fm.note)


# --- package post-processing -----------------------------------------------------------------------------------------


def add_ribbon(package: bytes, ribbon: bytes) -> bytes:
    """Add the ribbon part and its package relationship (2006 type) to an .xlsm written by XlsxWriter, and rewrite
    every zip entry with a fixed date and attributes so that the build is reproducible."""
    with zipfile.ZipFile(io.BytesIO(package)) as src:
        parts = {info.filename: src.read(info) for info in src.infolist()}
    rels = parts["_rels/.rels"].decode("utf-8")
    relationship = f'<Relationship Id="{RIBBON_REL_ID}" Type="{RIBBON_REL_TYPE}" Target="{RIBBON_PART}"/>'
    if "</Relationships>" not in rels or RIBBON_REL_TYPE in rels:
        raise ThiDuaError("Không thêm được ribbon: _rels/.rels không như mong đợi.")
    parts["_rels/.rels"] = rels.replace("</Relationships>", relationship + "</Relationships>").encode("utf-8")
    parts[RIBBON_PART] = ribbon
    return write_zip(parts)


def write_zip(parts: dict[str, bytes]) -> bytes:
    """A zip of ``parts`` (in the given order) whose bytes depend only on the parts."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in parts.items():
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0  # MS-DOS: no Unix permission bits that depend on the machine
            info.external_attr = 0
            archive.writestr(info, data, compresslevel=6)
    return out.getvalue()
