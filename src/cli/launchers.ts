// The files `aios` needs beside its script, as text: the POSIX and Windows launchers and the PowerShell
// module. src/cli/install.ts writes them into the extension's storage at activation (a .vsix holds only
// bundles, and may not keep an executable bit). Plain strings, so the unit tests install the very same files.

/** `aios` for POSIX shells: runs the CLI with the Node of the window that set up the terminal. */
export const LAUNCHER_SH = `#!/bin/sh
# aios: starts the AIOS Middleware command line (../aios.js) with the Node of the VS Code window that
# set up this terminal (AIOS_CLI_NODE: the extension host's own executable, Electron run as Node on the
# desktop), so no \`node\` is needed on PATH. Outside VS Code it falls back to the \`node\` on PATH.
here=$(dirname "$0")
main=\${AIOS_CLI_MAIN:-$here/../aios.js}
node=\${AIOS_CLI_NODE:-node}
if [ ! -f "$main" ]; then
  echo "aios: $main is gone (the extension was updated or removed): open a new terminal" >&2
  exit 76
fi
if [ -z "\${AIOS_CLI_NODE:-}" ] && ! command -v node >/dev/null 2>&1; then
  echo "aios: no VS Code window here (AIOS_CLI_NODE is not set) and no node on PATH: run aios in an integrated terminal of a window with AIOS Middleware" >&2
  exit 69
fi
# The program aios runs gets the terminal's own ELECTRON_RUN_AS_NODE back (set or not).
AIOS_CLI_PRIOR_ERAN=\${ELECTRON_RUN_AS_NODE+set:$ELECTRON_RUN_AS_NODE}
export AIOS_CLI_PRIOR_ERAN
ELECTRON_RUN_AS_NODE=1 exec "$node" "$main" "$@"
`;

/** `aios.cmd` for cmd.exe and PowerShell on Windows (written with CRLF line ends). */
export const LAUNCHER_CMD = `@echo off
rem aios: starts the AIOS Middleware command line (..\\aios.js) with the Node of the VS Code window that
rem set up this terminal (AIOS_CLI_NODE), so no node is needed on PATH. Outside VS Code: the node on PATH.
setlocal
set "AIOS_MAIN=%AIOS_CLI_MAIN%"
if not defined AIOS_MAIN set "AIOS_MAIN=%~dp0..\\aios.js"
set "AIOS_NODE=%AIOS_CLI_NODE%"
if not defined AIOS_NODE set "AIOS_NODE=node"
if not exist "%AIOS_MAIN%" (
  echo aios: %AIOS_MAIN% is gone ^(the extension was updated or removed^): open a new terminal 1>&2
  exit /b 76
)
if defined ELECTRON_RUN_AS_NODE (set "AIOS_CLI_PRIOR_ERAN=set:%ELECTRON_RUN_AS_NODE%") else (set "AIOS_CLI_PRIOR_ERAN=")
set "ELECTRON_RUN_AS_NODE=1"
"%AIOS_NODE%" "%AIOS_MAIN%" %*
exit /b %ERRORLEVEL%
`.replace(/\n/g, '\r\n');

/** The AIOS PowerShell module (AIOS/AIOS.psm1): the original calls, thin over `aios`. */
export const POWERSHELL_MODULE = `# The original PowerShell calls of AIOS Middleware, thin over \`aios\` (on PATH in every integrated terminal of a
# window with the extension): each function builds one \`aios\` command line and returns what it prints.
# The script block of Invoke-AIOSCommandWithMiddleware runs in a child PowerShell (the same executable, no
# profile) under \`aios run\`: it is admitted, queued, recorded and cancellable like any program, and sees
# the caller's environment variables and current folder but not its PowerShell variables (pass them with
# -ArgumentList).

function Get-AiosExecutable {
  $cmd = Get-Command -Name 'aios' -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
  if (-not $cmd) {
    throw 'aios is not on PATH: open an integrated terminal in a VS Code window with AIOS Middleware'
  }
  $cmd.Source
}

function Invoke-AIOSCommandWithMiddleware {
  [CmdletBinding()]
  param(
    [Parameter(Mandatory)] [string] $CommandType,
    [ValidateSet('HIGH', 'NORMAL', 'LOW')] [string] $Priority = 'NORMAL',
    [Parameter(Mandatory)] [scriptblock] $CommandBlock,
    [object[]] $ArgumentList = @(),
    [int] $TimeoutSeconds = 0
  )
  $aios = Get-AiosExecutable
  $pwsh = (Get-Process -Id $PID).Path
  # The block and its arguments travel base64-encoded: no quoting of the user's code by any shell.
  $argsJson = ConvertTo-Json -InputObject @($ArgumentList) -Depth 10 -Compress
  $script = "\`$__aiosArgs = ConvertFrom-Json -InputObject '$($argsJson -replace "'", "''")'; & { $($CommandBlock.ToString()) } @__aiosArgs; exit \`$LASTEXITCODE"
  $encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($script))
  $aiosArgs = @('run', '--type', $CommandType, '--priority', $Priority)
  if ($TimeoutSeconds -gt 0) { $aiosArgs += @('--timeout', "$TimeoutSeconds") }
  $aiosArgs += @('--', $pwsh, '-NoProfile', '-EncodedCommand', $encoded)
  & $aios @aiosArgs
}

function Get-AIOSTelemetryMetrics {
  [CmdletBinding()]
  param(
    [ValidateSet('SUMMARY', 'DETAILED', 'REALTIME')] [string] $DetailLevel = 'SUMMARY'
  )
  $aios = Get-AiosExecutable
  $json = & $aios status --json --detail $DetailLevel
  if ($LASTEXITCODE -ne 0) { throw "aios status failed with exit code $LASTEXITCODE" }
  ($json | ConvertFrom-Json).report
}

function Sync-PythonState {
  [CmdletBinding()]
  param(
    [Parameter(Mandatory)]
    [ValidateSet('UPDATE_LOG_LEVEL', 'FLUSH_CACHE', 'RELOAD_CONFIG', 'HEALTH_OVERRIDE', 'BCM_RESET', 'CUSTOM_COMMAND')]
    [string] $Operation,
    [string] $Value,
    [hashtable] $Parameters = @{}
  )
  $aios = Get-AiosExecutable
  $aiosArgs = switch ($Operation) {
    'UPDATE_LOG_LEVEL' { @('control', 'log-level', $Value) }
    'FLUSH_CACHE' { @('control', 'flush-cache', $(if ($Parameters.cache_type) { $Parameters.cache_type } else { 'all' })) }
    'RELOAD_CONFIG' { @('control', 'reload-config') }
    'HEALTH_OVERRIDE' { @('control', 'health-override', $Value) }
    'BCM_RESET' { @('control', 'bcm-reset') }
    'CUSTOM_COMMAND' {
      $a = if ($Parameters.arguments) { $Parameters.arguments } else { @{} }
      @('control', 'custom', $Parameters.command, '--args', (ConvertTo-Json -InputObject $a -Depth 10 -Compress))
    }
  }
  $json = & $aios @aiosArgs
  if ($LASTEXITCODE -ne 0) { throw "aios control $Operation failed with exit code $LASTEXITCODE" }
  $json | ConvertFrom-Json
}

Export-ModuleMember -Function Invoke-AIOSCommandWithMiddleware, Get-AIOSTelemetryMetrics, Sync-PythonState
`;

/** Its manifest (AIOS/AIOS.psd1), so PowerShell's command discovery finds the functions before an import. */
export const POWERSHELL_MANIFEST = `@{
  RootModule        = 'AIOS.psm1'
  ModuleVersion     = '1.0.0'
  GUID              = '6f0c7a4e-3b1d-4a8e-9a57-2d1f6c9e4b21'
  Description       = 'AIOS Middleware from PowerShell: thin wrappers over the aios command line.'
  PowerShellVersion = '5.1'
  FunctionsToExport = @('Invoke-AIOSCommandWithMiddleware', 'Get-AIOSTelemetryMetrics', 'Sync-PythonState')
  CmdletsToExport   = @()
  VariablesToExport = @()
  AliasesToExport   = @()
}
`;
