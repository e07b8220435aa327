"""The page's stylesheet, its render-check script and its skeleton (filled by `page.render`)."""

STYLE = """
:root { --ink:#1d2733; --muted:#607080; --line:#dde3ea; --accent:#1565c0; --bg:#fbfcfd; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
main { max-width: 1060px; margin: 0 auto; padding: 28px 28px 60px; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 10px; }
h1 { font-size: 24px; margin: 0 0 2px; }
h2 { font-size: 19px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.sub, .note, .muted { color: var(--muted); }
.note { font-size: 13.5px; max-width: 880px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; font-size: 13.5px; background: white;
  box-shadow: 0 0 0 1px var(--line); border-radius: 6px; overflow: hidden; }
th { text-align: left; background: #eef2f6; font-weight: 600; padding: 7px 9px; white-space: nowrap; }
td { padding: 6px 9px; border-top: 1px solid var(--line); vertical-align: top; }
tbody tr:nth-child(even) td { background: #f8fafb; }
table.runs td:nth-child(2), table.runs td:nth-child(n+4) { white-space: nowrap; }
table.claims td:first-child { font-weight: 600; color: var(--muted); }
table.claims td:nth-child(2) { min-width: 240px; }
table.claims td:nth-child(6), table.claims td:nth-child(7) { white-space: nowrap; }
table.prov td:nth-child(5) { white-space: nowrap; }
table.env thead { display: none; }
table.env td:first-child { width: 120px; color: var(--muted); white-space: nowrap; }
p.cfg { background: white; padding: 8px 12px; border-radius: 6px; box-shadow: 0 0 0 1px var(--line); }
.tok { white-space: nowrap; }
.ci { color: var(--muted); font-size: 12.5px; }
.src { color: var(--muted); font-size: 12.5px; }
.cfg { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px;
  background: #eef2f6; padding: 1px 5px; border-radius: 4px; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-size: 12.5px; font-weight: 600;
  background: #eceff1; color: #37474f; }
.v-confirmed, .s-done { background: #e3f4e6; color: #1b5e20; }
.v-refuted, .s-failed { background: #fde4e4; color: #b71c1c; }
.v-inconclusive, .s-interrupted, .s-stale, .s-running { background: #fff3d6; color: #8a5a00; }
figure { margin: 14px 0 22px; background: white; padding: 12px; border-radius: 6px;
  box-shadow: 0 0 0 1px var(--line); }
img.fig { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 13.5px; color: #3c4a58; margin-top: 8px; max-width: 900px; }
"""

# Marks the page for tests and tools: every figure decoded and any error or blocked fetch counted.
SCRIPT = """
var errors = 0;
window.addEventListener("error", function () { errors += 1; }, true);
document.addEventListener("securitypolicyviolation", function () { errors += 1; });
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  var mark = document.getElementById("render-check");
  mark.setAttribute("data-images", imgs.length);
  mark.setAttribute("data-rendered", ok);
  mark.setAttribute("data-errors", errors);
  mark.setAttribute("data-done", "1");
});
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title}</title>
<style>{style}</style>
<script>{script}</script>
</head><body><main>
{body}
<footer class=note><span id="render-check" data-done="0"></span>Written by statecarry. Figures are PNG images inside this file; it needs no network.</footer>
</main></body></html>
"""
