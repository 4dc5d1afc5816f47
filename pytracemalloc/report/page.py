"""The report's one HTML file: the page template (page.html), its scripts
(page.js, and flame.js for the flame graphs), the charting library's
JavaScript read from its installed package, and the data, all inlined: the
page fetches nothing when opened.

The charts are plotly.js, from the ``plotly`` package on PyPI (the
``report`` extra: ``pip install 'pytracemalloc[report]'``); its minified
bundle ships in the package as ``plotly/package_data/plotly.min.js``."""

import base64
import importlib.util
import json
import os

__all__ = ["ChartLibraryMissing", "chart_library", "render"]

_HERE = os.path.dirname(os.path.abspath(__file__))
CHART_PACKAGE = "plotly"
_CHART_FILE = os.path.join("package_data", "plotly.min.js")


class ChartLibraryMissing(RuntimeError):
    """The charting library's JavaScript cannot be found."""


def chart_library():
    """The text of plotly.min.js from the installed ``plotly`` package,
    found without importing it (importing plotly takes a second)."""
    spec = importlib.util.find_spec(CHART_PACKAGE)
    locations = spec.submodule_search_locations if spec else None
    for location in locations or ():
        path = os.path.join(location, _CHART_FILE)
        try:
            with open(path, encoding="utf-8") as file:
                return file.read()
        except OSError:
            continue
    raise ChartLibraryMissing(
        "the report needs the JavaScript of the %r package, not installed "
        "here: pip install 'pytracemalloc[report]'" % CHART_PACKAGE)


def _script_text(text):
    """``text`` made safe inside <script>...</script>: only "</script"
    (any case) and "<!--" can end or derail a script element; inside the
    JavaScript strings and regular expressions where they can occur,
    "<\\/" and "\\x3C!--" mean the same."""
    lowered = text.lower()
    if "</script" in lowered or "<!--" in lowered:
        import re
        text = re.sub(r"</(?=script)", r"<\\/", text, flags=re.IGNORECASE)
        text = text.replace("<!--", "\\x3C!--")
    return text


def _read(name):
    with open(os.path.join(_HERE, name), encoding="utf-8") as file:
        return file.read()


def render(data, library=None):
    """The HTML of the report of ``data`` (a ``model.ReportData``)."""
    if library is None:
        library = chart_library()
    meta = json.dumps(data.meta, ensure_ascii=True, allow_nan=False,
                      separators=(",", ":")).replace("</", "<\\/")
    blob = base64.b64encode(data.blob).decode("ascii")
    parts = {
        "TITLE": _escape_html(data.meta["title"]),
        "LIBRARY": _script_text(library),
        "FLAME": _script_text(_read("flame.js")),
        "SCRIPT": _script_text(_read("page.js")),
        "META": meta,
        "BLOB": blob,
    }
    template = _read("page.html")
    # One pass over the template: a placeholder's text inside an inlined
    # part (the library may say "@@META@@" for all we know) is left alone.
    out = []
    rest = template
    while True:
        start = rest.find("@@")
        if start < 0:
            out.append(rest)
            break
        end = rest.find("@@", start + 2)
        name = rest[start + 2:end]
        if end < 0 or name not in parts:
            out.append(rest[:start + 2])
            rest = rest[start + 2:]
            continue
        out.append(rest[:start])
        out.append(parts[name])
        rest = rest[end + 2:]
    return "".join(out)


def _escape_html(text):
    return (text.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&quot;"))
