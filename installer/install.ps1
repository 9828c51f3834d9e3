# Per-user install of mttd (Windows): no administrator rights, nothing outside your profile.
#   powershell -ExecutionPolicy Bypass -File installer\install.ps1 [--with-training] [--no-modify-path] [--from PATH|WHEEL] [--no-service] [--no-plugins] [--dry-run]
# Needs Python 3.11 or newer (the py launcher, or set MTTD_PYTHON). Run it again to upgrade in place.
$ErrorActionPreference = "Stop"
. (Join-Path $PSScriptRoot "find-python.ps1")
$env:PYTHONPATH = Split-Path -Parent $PSScriptRoot
$pyargs = @($python | Select-Object -Skip 1)
& $python[0] @pyargs -m installer install @args
exit $LASTEXITCODE
