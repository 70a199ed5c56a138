// Run Command's type list: what Enter runs. Plain TypeScript (no vscode), unit-tested.

/**
 * What Enter on the type list runs: a name typed in full; else the selected row when it matches the text (the
 * quick pick shows only rows that match it, in order, so a row that does not is a focus left from before the
 * list was filtered); else the first type the text begins; else the text as typed.
 */
export function acceptedType(typed: string, selected: { commandType: string } | undefined, known: readonly { commandType: string }[]): string | undefined {
  const exact = known.find((i) => i.commandType === typed);
  if (exact) return exact.commandType;
  if (selected && (selected.commandType === typed || inOrder(selected.commandType, typed))) return selected.commandType;
  const lower = typed.toLowerCase();
  return (lower ? known.find((i) => i.commandType.toLowerCase().startsWith(lower))?.commandType : undefined) ?? (typed || undefined);
}

/** The characters of `text` appear in `label` in order, ignoring case (as the quick pick's filter matches). */
function inOrder(label: string, text: string): boolean {
  const l = label.toLowerCase();
  let at = 0;
  for (const ch of text.toLowerCase()) {
    at = l.indexOf(ch, at) + 1;
    if (at === 0) return false;
  }
  return true;
}
