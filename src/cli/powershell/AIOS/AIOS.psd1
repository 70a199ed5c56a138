@{
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
