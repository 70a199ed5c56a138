// The lint gate (`npm run lint`, a tier of `npm test`): typescript-eslint's type-aware recommended rules for
// the TypeScript, ESLint's recommended rules for the plain-JavaScript tooling. Formatting is Prettier's job
// (`npm run format`), so no stylistic rules here.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'out/', '.vscode-test/', 'test-results/', 'python/'] },
  {
    files: ['**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    // Functions these files pass to page.evaluate() run in the browser.
    files: ['test/host/**/*.mjs'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Passing on a caught value as the rejection it already was is not inventing a non-Error reason.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // node:test's test() and describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after'] }] },
      ],
    },
  },
  {
    // The middleware core is plain Node (docs/ARCHITECTURE.md); test/unit/architecture.test.ts holds the rest
    // of the layering (no cycles, other core folders only through their barrels).
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'src/core is plain Node: take what it needs as a parameter instead.' }],
          patterns: [{ group: ['vscode-languageclient', 'vscode-languageclient/*'], message: 'src/core is plain Node.' }],
        },
      ],
    },
  },
  {
    // Tests read JSON back (files, reports, webview state) and fake async APIs with plain functions: checking
    // the shape is what their assertions do.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/require-await': 'off',
    },
  },
);
