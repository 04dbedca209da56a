@echo off
rem ThiDua 2024: installer for one Windows user, without administrator rights and without network.
rem Written by `thidua bundle` (addin/thidua/data/cai-dat.bat). Usage: double-click it, or cai-dat.bat [INSTALL_FOLDER].
rem The commands between the two "install commands" markers are exactly those docs/excel-install.md shows for an
rem install by hand (tests/test_bundle.py compares them).
setlocal EnableExtensions DisableDelayedExpansion
chcp 65001 >nul
set "SRC=%~dp0"
set "SRC=%SRC:~0,-1%"
set "TD_HOME={INSTALL_DIR}"
if not "%~1"=="" set "TD_HOME=%~1"
echo ThiDua 2024 - cài đặt vào thư mục "%TD_HOME%" (không cần quyền quản trị, không cần mạng).
echo.
if not exist "%SRC%\goi\thidua-*.whl" goto :no_bundle

rem A supported 64-bit Python: installed for this user, for all users, through the py launcher, or python on PATH
rem (the Microsoft Store stub fails the check).
set "CHECK=import sys; sys.exit(0 if ({LOW}) <= sys.version_info[:2] <= ({HIGH}) and sys.maxsize > 2**32 else 1)"
set "PY="
for %%V in ({PYTHONS}) do if not defined PY call :find %%V
if not defined PY python -c "%CHECK%" >nul 2>&1 && set "PY=python"
if not defined PY goto :no_python
echo Dùng Python: %PY%
if not exist "%TD_HOME%\" mkdir "%TD_HOME%" 2>nul
if not exist "%TD_HOME%\" goto :no_folder
if exist "%TD_HOME%\ThiDua2024.xlsm" copy /y "%TD_HOME%\ThiDua2024.xlsm" "%TD_HOME%\ThiDua2024-ban-cu.xlsm" >nul
echo Đang cài (khoảng 2-5 phút)...

rem >>> install commands
if not exist "%TD_HOME%\tmp" mkdir "%TD_HOME%\tmp" || goto :failed
set "TEMP=%TD_HOME%\tmp"
set "TMP=%TD_HOME%\tmp"
%PY% -m venv "%TD_HOME%\.venv" || goto :failed
"%TD_HOME%\.venv\Scripts\python.exe" -m pip install --no-index --find-links "%SRC%\goi" --force-reinstall --no-cache-dir --disable-pip-version-check thidua || goto :failed
copy /y "%SRC%\ThiDua2024.xlsm" "%TD_HOME%\" || goto :failed
copy /y "%SRC%\HuongDanCaiDat.pdf" "%TD_HOME%\" || goto :failed
"%TD_HOME%\.venv\Scripts\python.exe" -m thidua.bundle check "%TD_HOME%\ThiDua2024.xlsm" || goto :failed
rem <<< install commands

echo.
echo CÀI ĐẶT XONG. Mở tệp "%TD_HOME%\ThiDua2024.xlsm", bấm "Bật Nội dung" (Enable Content) nếu Excel hỏi.
if exist "%TD_HOME%\ThiDua2024-ban-cu.xlsm" echo Bảng tính cũ được giữ lại với tên ThiDua2024-ban-cu.xlsm: hãy điền lại phần THIẾT LẬP trên bảng tính mới.
echo Lần đầu bấm "Viết báo cáo" có thể phải chờ một hai phút.
pause
exit /b 0

:find
for /f "tokens=1,2 delims=:" %%a in ("%~1") do (set "DOT=%%a" & set "NUM=%%b")
call :try "%LOCALAPPDATA%\Programs\Python\Python%NUM%\python.exe"
if defined PY exit /b 0
call :try "%ProgramFiles%\Python%NUM%\python.exe"
if defined PY exit /b 0
where py >nul 2>&1 && py -%DOT% -c "%CHECK%" >nul 2>&1 && set "PY=py -%DOT%"
exit /b 0

:try
if not exist "%~1" exit /b 1
"%~1" -c "%CHECK%" >nul 2>&1 || exit /b 1
set PY="%~1"
exit /b 0

:no_bundle
echo Không thấy thư mục "goi" bên cạnh tệp này. Hãy giải nén cả bộ cài (chuột phải, "Giải nén Tất cả" - Extract All)
echo rồi chạy cai-dat.bat trong thư mục đã giải nén, không chạy từ bên trong tệp .zip.
pause
exit /b 1

:no_python
echo Chưa có Python {VERSIONS} bản 64-bit trên máy. Cài Python từ python.org theo Hướng dẫn cài đặt, bước 1
echo (chọn "Install Now", bỏ đánh dấu "Use admin privileges when installing py.exe"), rồi chạy lại tệp này.
pause
exit /b 1

:no_folder
echo Không tạo được thư mục "%TD_HOME%". Nhờ bộ phận CNTT tạo thư mục này và cho tài khoản của bạn quyền ghi,
echo hoặc chạy: cai-dat.bat D:\ThiDua2024 (một thư mục khác, đường dẫn không dấu, không có dấu cách).
pause
exit /b 1

:failed
echo.
echo CÀI ĐẶT CHƯA THÀNH CÔNG (lỗi ở bước ngay trên). Chụp màn hình cửa sổ này gửi người hỗ trợ kỹ thuật.
pause
exit /b 1
