"""``compat --html FILE``: the report (:func:`runsc_py.compat.report.build`) as one page.

Self-contained: inline CSS and inline SVG (HTML5 needs no SVG namespace), no script, no
external reference of any kind, so it can be mailed or attached to an issue as it is.
Order: verdict, what the sandbox is missing, usage by family (a bar chart), every syscall,
the output diff.
"""

from __future__ import annotations

from html import escape
from typing import Any

_COLORS = {"full": "#3a9a5b", "partial": "#e0a030", "unsupported": "#d0453a",
           "denied": "#8e3ad0"}
_VERDICT_COLORS = {"same": "#2f7d4a", "differs": "#b23a2e", "could not run": "#666"}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#222;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 8px;
border-bottom:1px solid #ddd;padding-bottom:4px}
.verdict{color:#fff;border-radius:8px;padding:16px 20px}
.verdict .big{font-size:26px;font-weight:700;letter-spacing:.5px}
.verdict code{background:rgba(255,255,255,.18);padding:1px 5px;border-radius:4px}
.verdict ul{margin:8px 0 0 18px;padding:0}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border-bottom:1px solid #e6e6e6;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef0f3;font-weight:600} td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:10px;padding:0 8px;color:#fff;font-size:12px}
.note{color:#555;font-size:12px;max-width:520px}
.cards{display:flex;gap:12px;margin-top:12px;flex-wrap:wrap}
.card{background:#fff;border-radius:8px;padding:10px 14px;flex:1;min-width:200px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
.card b{display:block;font-size:18px}
pre.diff{background:#fff;padding:10px;overflow:auto;font-size:12px;border-radius:6px;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
.add{color:#17692f;background:#e8f6ec;display:block}.del{color:#a2261d;background:#fbeaea;
display:block}.hunk{color:#2357a5;display:block}
.none{color:#2f7d4a} .muted{color:#777;font-size:12px}
"""


def _badge(support: str) -> str:
    color = _COLORS.get(support, "#777")
    return f'<span class="badge" style="background:{color}">{escape(support)}</span>'


def _how(st: dict[str, Any]) -> str:
    if st.get("timed_out"):
        return "timed out"
    if st.get("signal"):
        return f"killed by {st.get('signal_name') or st['signal']}"
    return f"exit {st.get('exit_code')}"


def _chart(families: list[dict[str, Any]]) -> str:
    """Horizontal bars, one per family, split by the support level of the calls."""
    if not families:
        return '<p class="muted">No syscall reached the sentry.</p>'
    label_w, bar_w, row_h = 90, 640, 26
    total_w = label_w + bar_w + 150
    height = row_h * len(families) + 34
    peak = max(f["calls"] for f in families) or 1
    parts = [f'<svg role="img" aria-label="syscall calls by family" width="{total_w}" '
             f'height="{height}" viewBox="0 0 {total_w} {height}" class="chart">']
    for i, f in enumerate(families):
        y = 6 + i * row_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" '
                     f'font-size="13">{escape(f["family"])}</text>')
        x = float(label_w)
        for support in ("full", "partial", "unsupported", "denied"):
            n = f["calls_by_support"].get(support, 0)
            if not n:
                continue
            w = max(1.0, bar_w * n / peak)
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h - 8}" '
                         f'fill="{_COLORS[support]}"><title>{escape(f["family"])}: {n} '
                         f'{support} calls</title></rect>')
            x += w
        extra = f", {f['refused_variants']} refused" if f.get("refused_variants") else ""
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 15}" font-size="12" fill="#444">'
                     f'{f["calls"]} calls, {f["syscalls"]} syscalls{escape(extra)}</text>')
    y = height - 12
    x = label_w
    for support in ("full", "partial", "unsupported", "denied"):
        parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" '
                     f'fill="{_COLORS[support]}"/><text x="{x + 16}" y="{y}" '
                     f'font-size="12">{support}</text>')
        x += 110
    parts.append("</svg>")
    return "".join(parts)


def _diff(text: str) -> str:
    out = []
    for line in text.splitlines():
        cls = ("hunk" if line.startswith("@@") else "add" if line.startswith("+")
               else "del" if line.startswith("-") else "")
        out.append(f'<span class="{cls}">{escape(line)}</span>' if cls else escape(line) + "\n")
    return "".join(out)


def render(r: dict[str, Any]) -> str:
    """The page for report *r*."""
    cmd = " ".join(r["command"])
    verdict = r["verdict"]
    color = _VERDICT_COLORS.get(verdict, "#666")
    h = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
         '<meta name="viewport" content="width=device-width,initial-scale=1">',
         f"<title>runsc-py compat: {escape(verdict)} — {escape(cmd[:80])}</title>",
         f"<style>{_CSS}</style></head><body><main>"]
    h.append(f'<div class="verdict" style="background:{color}">'
             f'<div class="big">{escape(verdict.upper())}</div>'
             f"<div><code>{escape(cmd)}</code></div>")
    if r["reasons"]:
        h.append("<ul>" + "".join(f"<li>{escape(x)}</li>" for x in r["reasons"]) + "</ul>")
    else:
        h.append("<div>Same exit status and output, nothing unsupported hit.</div>")
    h.append("</div>")
    if verdict == "could not run":
        h.append("</main></body></html>")
        return "\n".join(h)
    t = r["totals"]
    out = r["output"]
    h.append('<div class="cards">'
             f'<div class="card">native<b>{escape(_how(r["native"]))}</b>'
             f'<span class="muted">{r["native"]["seconds"]} s</span></div>'
             f'<div class="card">sandbox<b>{escape(_how(r["sandbox"]))}</b>'
             f'<span class="muted">{r["sandbox"]["seconds"]} s</span></div>'
             f'<div class="card">output<b>stdout {"same" if out["stdout"]["same"] else "differs"}'
             f', stderr {"same" if out["stderr"]["same"] else "differs"}</b>'
             '<span class="muted">after normalisation</span></div>'
             f'<div class="card">syscalls<b>{t["calls"]} calls, {t["distinct"]} distinct</b>'
             f'<span class="muted">{t["fast"]} on the C fast path; the others '
             f'{t.get("sentry_us", 0) / 1000:.1f} ms of the sentry, '
             f'{t.get("gofer_us", 0) / 1000:.1f} of it the round trips of '
             f'{t.get("gofer_requests", 0)} gofer requests</span></div></div>')

    h.append("<h2>Missing in the sandbox</h2>")
    if r["unsupported"]:
        h.append("<table><tr><th>family</th><th>what was refused</th><th>binary</th>"
                 "<th>count</th></tr>")
        for u in r["unsupported"]:
            h.append(f"<tr><td>{escape(u['family'])}</td><td>{escape(u['detail'])}</td>"
                     f"<td>{escape(u['binary'] or '?')}</td><td class='n'>{u['count']}</td></tr>")
        h.append("</table>")
    else:
        h.append('<p class="none">The sandbox refused nothing this program asked for.</p>')
    weak = [x for x in r["syscalls"] if x["support"] != "full"]
    if weak:
        h.append('<p class="muted">Syscalls used that the sandbox supports partly or not at '
                 "all:</p><table><tr><th>syscall</th><th>calls</th><th>support</th>"
                 "<th>note</th></tr>")
        for x in weak:
            h.append(f"<tr><td>{escape(x['name'])}</td><td class='n'>{x['count']}</td>"
                     f"<td>{_badge(x['support'])}</td>"
                     f"<td class='note'>{escape(x['note'])}</td></tr>")
        h.append("</table>")

    h.append("<h2>Usage by family</h2>")
    h.append(_chart(r["families"]))

    h.append("<h2>Every syscall</h2><table><tr><th>nr</th><th>syscall</th><th>family</th>"
             "<th>calls</th><th>C fast path</th><th>sentry ms</th><th>gofer requests</th>"
             "<th>gofer ms</th><th>support</th>"
             "<th>policy</th><th>note</th></tr>")
    for x in r["syscalls"]:
        h.append(f"<tr><td class='n'>{x['nr']}</td><td>{escape(x['name'])}</td>"
                 f"<td>{escape(x['family'])}</td><td class='n'>{x['count']}</td>"
                 f"<td class='n'>{x['fast']}</td>"
                 f"<td class='n'>{x.get('sentry_us', 0) / 1000:.1f}</td>"
                 f"<td class='n'>{x.get('gofer_requests', 0)}</td>"
                 f"<td class='n'>{x.get('gofer_us', 0) / 1000:.1f}</td>"
                 f"<td>{_badge(x['support'])}</td>"
                 f"<td>{escape(x['policy'])}</td><td class='note'>{escape(x['note'])}</td></tr>")
    h.append("</table>")
    h.append('<p class="muted">Not counted (the host runs them without a stop): '
             + escape(", ".join(r["not_counted"])) + ". Denied by the filter before the "
             "sentry sees them (not counted either): "
             + escape(", ".join(r["denied_by_filter"])) + ".</p>")

    h.append("<h2>Output</h2>")
    for stream in ("stdout", "stderr"):
        o = out[stream]
        if o["same"]:
            h.append(f'<p><b>{stream}</b>: <span class="none">same</span> '
                     f'<span class="muted">({o["native_bytes"]} bytes natively, '
                     f'{o["sandbox_bytes"]} sandboxed)</span></p>')
        else:
            h.append(f"<p><b>{stream}</b> differs (normalised, unified diff):</p>"
                     f'<pre class="diff">{_diff(o["diff"])}</pre>')
    rules = ", ".join(f"{n['name']}" for n in r["normalize"]) or "none"
    h.append(f'<p class="muted">Normalisation rules: {escape(rules)}.</p>')
    h.append("</main></body></html>")
    return "\n".join(h)
