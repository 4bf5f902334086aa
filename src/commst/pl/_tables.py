"""Tables as small HTML pages (Snakemake's report viewer shows nothing for a .tsv item)."""

from __future__ import annotations

import html

import pandas as pd


def html_table(frame: pd.DataFrame, title: str, caption: str) -> str:
    """``frame`` as a standalone HTML page: ``title`` as heading, ``caption`` below the table.

    Floats are shown with 3 significant digits, missing values as "–"; text is escaped.
    """
    table = frame.to_html(index=False, border=0, na_rep="–", float_format=lambda v: f"{v:.3g}", classes="commst")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1em}table.commst{border-collapse:collapse}"
        "table.commst th,table.commst td{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:right}"
        "table.commst th{background:#f4f4f4}</style></head><body>"
        f"<h3>{html.escape(title)}</h3>\n{table}\n<p>{html.escape(caption)}</p></body></html>\n"
    )
