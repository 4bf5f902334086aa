"""Tables of the report as self-contained HTML pages (Snakemake's report shows an HTML result
in a frame; a ``.tsv`` result is only a download link there)."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

#: Rows a report table shows; the full table stays in its TSV.
MAX_ROWS = 200

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 13px; margin: 16px;
       color: #222; }
h3 { margin: 0 0 6px 0; font-size: 15px; }
p.caption { margin: 0 0 10px 0; max-width: 70em; color: #444; }
p.note { margin: 8px 0 0 0; color: #666; font-style: italic; }
table.commst { border-collapse: collapse; }
table.commst th, table.commst td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
table.commst th { background: #f3f3f7; }
table.commst tbody tr:nth-child(even) { background: #fafafa; }
"""


def _rounded(frame: pd.DataFrame, digits: int) -> pd.DataFrame:
    """``frame`` with floats shown to ``digits`` significant decimals (integers stay integers)."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_float_dtype(values):
            whole = values.dropna()
            if len(whole) and np.all(np.mod(whole, 1) == 0) and np.all(np.abs(whole) < 2**53):
                out[column] = values.astype("Int64")
            else:
                out[column] = values.round(digits)
    return out


def html_table(
    frame: pd.DataFrame,
    title: str,
    caption: str,
    *,
    max_rows: int = MAX_ROWS,
    full_table: str | None = None,
    digits: int = 3,
) -> str:
    """A table as one HTML page for the report: title, caption, the rows, a note when capped.

    Parameters
    ----------
    frame
        The table (its index is not shown; put labels in columns).
    title
        Heading above the table.
    caption
        One paragraph under the heading: what the rows are and how to read them.
    max_rows
        Rows shown at most; a longer table shows its first ``max_rows`` rows and the note
        "first N of M rows; full table: ``full_table``".
    full_table
        Where the whole table is (the result's TSV), named in the note.
    digits
        Decimals of float columns (whole-number floats are shown as integers).

    Returns
    -------
    A complete HTML document (``<!DOCTYPE html>`` … ``</html>``) with an inline style; missing
    values show as "–"; an empty
    ``frame`` shows one row "none".
    """
    shown = _rounded(frame.head(max_rows).reset_index(drop=True), digits)
    body = shown.to_html(index=False, classes="commst", border=0, na_rep="–", escape=True)
    note = ""
    if len(frame) > max_rows:
        where = f"; full table: {html.escape(full_table)}" if full_table else ""
        note = f'<p class="note">first {max_rows} of {len(frame)} rows{where}</p>'
    elif frame.empty:  # one row that says so: an empty table reads as a broken page
        span = max(1, len(frame.columns))
        body = body.replace("<tbody>\n  </tbody>", f'<tbody>\n    <tr><td colspan="{span}">none</td></tr>\n  </tbody>')
        if "<tbody>" not in body:
            body = body.replace("</table>", f'<tbody><tr><td colspan="{span}">none</td></tr></tbody></table>')
    # numbers right-aligned (their digits line up), text left
    numeric = [
        i + 1
        for i, c in enumerate(frame.columns)
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]
    right = "".join(
        f"table.commst td:nth-child({i}), table.commst th:nth-child({i}) {{ text-align: right; }}\n" for i in numeric
    )
    body = body.replace(' style="text-align: right;"', "")
    return (
        "<!DOCTYPE html>\n"
        f'<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}{right}</style></head>\n"
        f'<body><h3>{html.escape(title)}</h3>\n<p class="caption">{html.escape(caption)}</p>\n'
        f"{body}\n{note}</body></html>\n"
    )


__all__ = ["MAX_ROWS", "html_table"]
