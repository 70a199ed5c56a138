// The extensionTestsPath entry of the installed-copy smoke suite: the same mocha runner as the development
// suite (test/integration/index.ts). Bundled here, its `__dirname` is this folder's output, so it runs the
// *.test.js files next to it.
export { run } from '../integration/index';
