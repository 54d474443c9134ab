/**
 * Borderless, uncoloured tables (cli-table3) so output reads well in a
 * terminal and stays plain text in pipes and logs.
 */

import Table from "cli-table3";

const NO_BORDER = {
  top: "",
  "top-mid": "",
  "top-left": "",
  "top-right": "",
  bottom: "",
  "bottom-mid": "",
  "bottom-left": "",
  "bottom-right": "",
  left: "",
  "left-mid": "",
  mid: "",
  "mid-mid": "",
  right: "",
  "right-mid": "",
  middle: "  ",
};

/** Column headings in upper case, then one line per row, columns aligned. */
export function renderTable(head: string[], rows: (string | number)[][]): string {
  const t = new Table({
    head: head.map((h) => h.toUpperCase()),
    chars: NO_BORDER,
    style: { head: [], border: [], "padding-left": 0, "padding-right": 0 },
  });
  for (const r of rows) t.push(r.map(String));
  // cli-table3 pads the last column too; trailing blanks help no one.
  return t.toString().split("\n").map((l) => l.trimEnd()).join("\n");
}
