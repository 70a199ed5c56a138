@echo off
rem aios: starts the AIOS Middleware command line (dist\cli\aios.js) with the Node of the VS Code window that
rem set up this terminal (AIOS_CLI_NODE), so no node is needed on PATH. Outside VS Code: the node on PATH.
setlocal
set "AIOS_MAIN=%AIOS_CLI_MAIN%"
if not defined AIOS_MAIN set "AIOS_MAIN=%~dp0..\aios.js"
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
