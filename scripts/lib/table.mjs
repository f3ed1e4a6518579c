// Plain-text tables for the reports.

/**
 * Rows (the first is the header) as aligned text: columns two spaces apart, align[i] 'l' pads
 * column i on the right, anything else on the left; a dashed rule under the header unless
 * rule is false; no trailing spaces.
 */
export function table(rows, align, { rule = true } = {}) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r, ri) => r.map((c, i) => (align[i] === 'l' ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ').trimEnd()
    + (ri === 0 && rule ? '\n' + widths.map((w) => '-'.repeat(w)).join('  ') : '')).join('\n');
}
