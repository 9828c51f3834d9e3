# Remove mttd's per-user install (what install.ps1 recorded in its manifest).
#   powershell -ExecutionPolicy Bypass -File installer\uninstall.ps1 [--purge] [--dry-run]
$ErrorActionPreference = "Stop"
. (Join-Path $PSScriptRoot "find-python.ps1")
$env:PYTHONPATH = Split-Path -Parent $PSScriptRoot
$pyargs = @($python | Select-Object -Skip 1)
& $python[0] @pyargs -m installer uninstall @args
exit $LASTEXITCODE
