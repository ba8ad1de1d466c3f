"""Reports people read: self-contained HTML pages with embedded plots.

Generic building blocks live in ``curate.report.html`` (page, tables, data-URI figures) and
``curate.report.plots`` (bar charts, histograms); each report (audit, evaluation) builds its
sections from them.
"""

from curate.report.html import (
    Markup,
    Section,
    badge,
    bullets,
    esc,
    figure_to_data_uri,
    html_page,
    img,
    kv_table,
    new_figure,
    para,
    pre,
    table,
)

__all__ = [
    "Markup",
    "Section",
    "badge",
    "bullets",
    "esc",
    "figure_to_data_uri",
    "html_page",
    "img",
    "kv_table",
    "new_figure",
    "para",
    "pre",
    "table",
]
