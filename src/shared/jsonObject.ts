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
