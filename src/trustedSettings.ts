// Where a setting may come from. Settings a workspace must never choose (programs to run, where telemetry
// goes, rules that act, the control endpoint) are `application`-scoped in package.json: VS Code reads them
// from user settings only, and the Settings editor shows them under User in local, remote and code-server
// windows alike (`machine` scopes show only under Remote there). The two below may differ per project, so a
// workspace may set them, but only once it is trusted: package.json lists the same keys in
// capabilities.untrustedWorkspaces.restrictedConfigurations (test/unit/settingScopes.test.ts holds the two
// equal), and the readers take the user's value alone while the workspace is untrusted.
export const USER_ONLY_WHEN_UNTRUSTED: ReadonlySet<string> = new Set(['python.interpreterPath', 'cluster.redisUrl']);
