# Dot-sourced by install.ps1 and uninstall.ps1: sets $python to a command (an array) that runs
# Python 3.11 or newer: $env:MTTD_PYTHON, then the py launcher, then python on PATH.
$candidates = New-Object System.Collections.ArrayList
if ($env:MTTD_PYTHON) { [void]$candidates.Add(@($env:MTTD_PYTHON)) }
foreach ($version in "3.13", "3.12", "3.11") { [void]$candidates.Add(@("py", "-$version")) }
[void]$candidates.Add(@("python"))
$python = $null
$saved = $ErrorActionPreference
$ErrorActionPreference = "Continue"  # a missing version makes py print to stderr: not an error here
foreach ($candidate in $candidates) {
    if (-not (Get-Command $candidate[0] -ErrorAction SilentlyContinue)) { continue }
    $rest = @($candidate | Select-Object -Skip 1)
    & $candidate[0] @rest -c "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))" 2>$null
    if ($LASTEXITCODE -eq 0) { $python = $candidate; break }
}
$ErrorActionPreference = $saved
if (-not $python) {
    Write-Host "mttd install: needs Python 3.11 or newer (python.org or the py launcher); set MTTD_PYTHON to one"
    exit 1
}
