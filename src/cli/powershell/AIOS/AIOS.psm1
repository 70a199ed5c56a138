# The original PowerShell calls of AIOS Middleware, thin over `aios` (on PATH in every integrated terminal of a
# window with the extension): each function builds one `aios` command line and returns what it prints.
# The script block of Invoke-AIOSCommandWithMiddleware runs in a child PowerShell (the same executable, no
# profile) under `aios run`: it is admitted, queued, recorded and cancellable like any program, and sees
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
  $script = "`$__aiosArgs = ConvertFrom-Json -InputObject '$($argsJson -replace "'", "''")'; & { $($CommandBlock.ToString()) } @__aiosArgs; exit `$LASTEXITCODE"
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
