import type { CliIo } from './command.ts';

/** Prints rows as aligned columns, the first row being the header; the last column is never padded. */
export function printTable(io: CliIo, rows: ReadonlyArray<readonly string[]>): void {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => r[i]?.length ?? 0))) ?? [];
  for (const row of rows)
    io.out(
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    );
}
