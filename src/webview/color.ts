// Canvas strokes cannot use CSS's color-mix() everywhere VS Code runs, so fading a theme colour (e.g. the
// chart grid) is done here. Pure, unit-tested.

/** `color` (#rgb, #rgba, #rrggbb, #rrggbbaa, rgb(), rgba()) with its alpha multiplied by `alpha`; unknown forms unchanged. */
export function withAlpha(color: string, alpha: number): string {
  const c = color.trim();
  let r: number,
    g: number,
    b: number,
    a = 1;
  const hex = /^#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.exec(c);
  if (hex) {
    let h = hex[1];
    if (h.length <= 4) h = [...h].map((x) => x + x).join('');
    [r, g, b] = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
    if (h.length === 8) a = parseInt(h.slice(6, 8), 16) / 255;
  } else {
    const fn = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)(?:[\s,/]+([\d.]+%?))?\s*\)$/i.exec(c);
    if (!fn) return color;
    [r, g, b] = [fn[1], fn[2], fn[3]].map(Number);
    if (fn[4] !== undefined) a = fn[4].endsWith('%') ? parseFloat(fn[4]) / 100 : Number(fn[4]);
  }
  return `rgba(${r}, ${g}, ${b}, ${+(a * alpha).toFixed(3)})`;
}
