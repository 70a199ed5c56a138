// Parsing a JSON object a person typed (an input box, the parameters editor): the error says what is wrong in words.

/** Parses user-typed JSON that must be an object; an empty text is the empty object. */
export function parseJsonObject(text: string): { value?: Record<string, unknown>; error?: string } {
  if (!text.trim()) return { value: {} };
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return { error: 'Parameters must be a JSON object, like {"key": "value"}' };
    return { value: value as Record<string, unknown> };
  } catch (err) {
    return { error: `Not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/**
 * JSON.parse's complaint about `text`, with the line and column a person looks for ("line 2, column 9: Expected
 * property name or '}'") where V8 gives a position (only the offset on some versions, the line on others).
 */
export function jsonSyntaxProblem(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const at = / in JSON at position (\d+)(?: \(line \d+ column \d+\))?$/.exec(message);
  if (!at) {
    if (/end of JSON input/.test(message)) return 'it ends too early';
    // `Unexpected token '/', "// my com"... is not valid JSON`: the token without the quoted text.
    return message.replace(/^(Unexpected token .+?), ".*" is not valid JSON$/s, '$1');
  }
  const before = text.slice(0, Number(at[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `line ${line}, column ${column}: ${message.slice(0, at.index)}`;
}
