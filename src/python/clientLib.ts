// The language-client half of the Python glue: vscode-languageclient and our stdio transport. It is loaded
// when the service first starts (lazyClient.ts), not when the extension activates: evaluating the language
// client is most of what requiring the bundle costs, and the status bar should not wait for it.
export {
  CancellationTokenSource,
  CloseAction,
  ConnectionError,
  ErrorAction,
  ErrorCodes,
  LanguageClient,
  ResponseError,
  RevealOutputChannelOn,
} from 'vscode-languageclient/node';
export { serviceTransports } from './transport';
