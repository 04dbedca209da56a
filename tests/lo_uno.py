"""Drive a running LibreOffice (``soffice --headless --accept=pipe,name=…;urp;``) through Python-UNO.

Run with Debian's /usr/bin/python3 (python3-uno is importable from that interpreter only, see DESIGN.md §4), as
``/usr/bin/python3 lo_uno.py JOB.json``: the job is a list of steps, the answer a JSON list on stdout (one entry per
``read`` step). Nothing of the project is imported here.

Steps:
- ``{"open": path}`` load a workbook (hidden window; macros never run);
- ``{"type": [[sheet, cell, text], ...]}`` what a person types: LibreOffice's own input parsing (numbers, dates and
  percentages recognised by the document's locale, text otherwise) — ``XCell.setFormula`` on a plain text does that;
- ``{"paste": [[sheet, cell, text], ...]}`` a text pasted from another workbook: the cell loses its validation and
  its fill (as a whole-cell paste does) and receives the text;
- ``{"percent": [[sheet, cell], ...]}`` the cell gets a percentage number format (what typing "100%" does);
- ``{"insert_row": [sheet, row0]}`` unprotect the sheet (no password, as a unit can) and insert an empty row before
  zero-based ``row0``;
- ``{"recalc": true}`` recalculate everything; ``{"read": [[sheet, cell], ...]}`` the cells' shown text;
- ``{"save": path}`` store as .xlsx (Calc Office Open XML); ``{"pdf": path}`` export as PDF; ``{"close": true}``.
"""

from __future__ import annotations

import json
import os
import sys
import time

import uno
from com.sun.star.beans import PropertyValue


def _props(**kw):
    out = []
    for k, v in kw.items():
        p = PropertyValue()
        p.Name, p.Value = k, v
        out.append(p)
    return tuple(out)


def connect(pipe: str, timeout: float = 60):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    deadline = time.monotonic() + timeout
    while True:
        try:
            ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            return ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _cell(doc, sheet: str, ref: str):
    return doc.Sheets.getByName(sheet).getCellRangeByName(ref)


def run(job: dict) -> list:
    desktop = connect(job["pipe"])
    doc = None
    answers = []
    for step in job["steps"]:
        if "open" in step:
            url = uno.systemPathToFileUrl(step["open"])
            doc = desktop.loadComponentFromURL(url, "_blank", 0, _props(Hidden=True, MacroExecutionMode=0))
        elif "type" in step:
            for sheet, ref, text in step["type"]:
                _cell(doc, sheet, ref).setFormula(text)
        elif "paste" in step:
            for sheet, ref, text in step["paste"]:
                cell = _cell(doc, sheet, ref)
                validation = cell.Validation
                validation.Type = uno.Enum("com.sun.star.sheet.ValidationType", "ANY")
                cell.Validation = validation
                cell.CellBackColor = -1
                cell.setString(text)
        elif "percent" in step:
            formats = doc.NumberFormats
            locale = uno.createUnoStruct("com.sun.star.lang.Locale")
            key = formats.getStandardFormat(uno.getConstantByName("com.sun.star.util.NumberFormat.PERCENT"), locale)
            for sheet, ref in step["percent"]:
                _cell(doc, sheet, ref).NumberFormat = key
        elif "insert_row" in step:
            sheet, row = step["insert_row"]
            target = doc.Sheets.getByName(sheet)
            target.unprotect("")  # the form's protection has no password: the unit removes it first
            target.Rows.insertByIndex(row, 1)
        elif "recalc" in step:
            doc.calculateAll()
        elif "read" in step:
            answers.append({f"{s}!{r}": _cell(doc, s, r).getString() for s, r in step["read"]})
        elif "save" in step:
            doc.storeToURL(uno.systemPathToFileUrl(step["save"]), _props(FilterName="Calc Office Open XML"))
        elif "pdf" in step:
            doc.storeToURL(uno.systemPathToFileUrl(step["pdf"]), _props(FilterName="calc_pdf_Export"))
        elif "close" in step:
            doc.close(True)
            doc = None
    if doc is not None:
        doc.close(True)
    return answers


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        result = run(json.load(fh))
    sys.stdout.write(json.dumps(result, ensure_ascii=False))
    sys.stdout.flush()
    os._exit(0)  # pyuno can crash while tearing the bridge down at interpreter exit, after the work is done
