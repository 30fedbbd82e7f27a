"""The monitoring run's HTML report: Evidently's drift report under a header that says what was
monitored and what was decided.

Evidently's page has no title or context and does not show live scores. The header gives the
competition, the champion, the windows, the verdict with the share against its limit, the live
scores next to the champion's backtest, the alerts, and how to read the Tests tab (whose first
test is the verdict: see :mod:`scoreline.monitoring.drift_suite`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["report_header", "save_report"]

#: live figures shown, in order, with how many decimals and how a quant names them
LIVE_FIGURES = (
    ("rps", 4, "RPS"),
    ("log_loss", 4, "log loss"),
    ("brier", 4, "Brier"),
    ("accuracy", 3, "accuracy"),
    ("ece", 4, "ECE"),
)


def _number(value: Any, decimals: int) -> str:
    return f"{value:.{decimals}f}" if isinstance(value, (int, float)) else "-"


def _when(value: Any) -> str:
    """An ISO timestamp as a person reads it (``2026-12-05 09:17 UTC``); anything else as given."""
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if len(str(value)) <= len("2026-12-05"):
        return str(value)  # a date
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.tzinfo is not None else "")


def report_header(summary: Mapping[str, Any]) -> str:
    """The header as an HTML fragment (every value escaped)."""
    e = html.escape
    code = summary["competition"]
    champion = summary.get("champion") or {}
    window = summary.get("window") or {}
    drift = summary.get("drift") or {}
    policy = summary.get("policy") or {}
    live = (summary.get("quality") or {}).get("live") or {}
    backtest = (summary.get("quality") or {}).get("backtest") or {}
    drifted, compared = len(drift.get("drifted", [])), len(drift.get("features", {}))
    limit = policy.get("drift_share_max")
    share = drift.get("share")
    verdict = "drift not judged"
    if drift:
        judged = (
            "DRIFT" if isinstance(share, float) and isinstance(limit, float) and share > limit else "no drift"
        )
        verdict = (
            f"drift judged: {judged} ({drifted} of {compared} features drifted, share "
            f"{_number(share, 2)}; alert above {_number(limit, 2)})"
        )
    rows = "".join(
        f"<tr><th>{e(label)}</th><td>{_number(live.get(name), d)}</td>"
        f"<td>{_number(backtest.get(name), d)}</td></tr>"
        for name, d, label in LIVE_FIGURES
    )
    alerts = summary.get("alerts") or []
    listed = "".join(f"<li>{e(str(a))}</li>" for a in alerts)
    alert_text = f"<ul>{listed}</ul>" if alerts else "<p>No alerts.</p>"
    notes = "".join(f"<li>{e(str(n))}</li>" for n in summary.get("notes") or [])
    return f"""
<style>#scoreline-live th, #scoreline-live td {{ padding: 2px 18px 2px 0; text-align: right;
  font-variant-numeric: tabular-nums }} #scoreline-live th:first-child {{ text-align: left }}</style>
<section id="scoreline-header" style="font-family: system-ui, sans-serif; padding: 16px 24px;
  border-bottom: 1px solid #d0d5dd; background: #f5f6f8; color: #1d2430">
  <h1 style="font-size: 22px; margin: 0 0 6px">Monitoring {e(code)}: champion version
    {e(str(champion.get("version", "?")))} ({e(str(champion.get("model_name", "?")))})</h1>
  <p style="margin: 2px 0">Monitored {e(_when(summary.get("at", "")))}; predictions since
    {e(_when(window.get("since", "?")))}: {e(str(window.get("predictions", "?")))} made,
    {e(str(window.get("settled", "?")))} settled. Reference: the champion's last
    {e(str(policy.get("reference_seasons", "?")))} training seasons.</p>
  <p style="margin: 6px 0; font-weight: 600">{e(verdict)}</p>
  <table style="border-collapse: collapse; margin: 6px 0" id="scoreline-live">
    <tr><th style="text-align: left; padding-right: 16px">live quality
      (n = {e(str(live.get("n", 0)))})</th><th style="padding-right: 16px">live</th>
      <th>champion's backtest</th></tr>
    {rows}
  </table>
  {alert_text}
  {f"<ul>{notes}</ul>" if notes else ""}
  <p style="margin: 2px 0; color: #667085">Tests tab: the first test is the drift verdict
    (FAIL = the share of drifted features is above the limit: a drift alert); then one test per
    feature, WARNING = that feature's distribution moved.</p>
</section>
"""


def _with_header(page: str, summary: Mapping[str, Any]) -> str:
    name = f"Scoreline monitoring {summary['competition']} {summary.get('at', '')}"
    title = f"<title>{html.escape(name)}</title>"
    page = page.replace("<head>", "<head>" + title, 1) if "<head>" in page else title + page
    at = page.find("<body")
    if at < 0:
        return report_header(summary) + page
    end = page.index(">", at) + 1
    return page[:end] + report_header(summary) + page[end:]


#: Evidently's dashboard code, the same in every report of an installed version (~3.5 MB of ~6)
LIBRARY_MARK = "window.drawDashboard="


def _shared_library(page: str, folder: Path, relative: str) -> str:
    """``page`` with Evidently's inline dashboard script replaced by a reference to one shared
    copy in ``folder`` (named by its content hash, written once): a season's replay keeps 42
    reports, 6 MB each with the script inline."""
    start = 0
    while (opening := page.find("<script>", start)) >= 0:
        body = opening + len("<script>")
        closing = page.find("</script>", body)  # the library escapes its own as <\/script>
        if closing < 0:
            break
        if closing - body > 1_000_000 and LIBRARY_MARK in page[body:closing]:
            code = page[body:closing]
            name = f"evidently-{hashlib.sha256(code.encode()).hexdigest()[:12]}.js"
            if not (folder / name).is_file():
                folder.mkdir(parents=True, exist_ok=True)
                (folder / name).write_text(code, encoding="utf-8")
            tag = f'<script src="{relative}{name}"></script>'
            return page[:opening] + tag + page[closing + len("</script>") :]
        start = closing + len("</script>")
    return page


def save_report(
    snapshot: Any, path: Path, summary: Mapping[str, Any], library: Path | None = None
) -> tuple[Path, str]:
    """Evidently's HTML report of ``snapshot`` at ``path`` with :func:`report_header` on top;
    with ``library`` (a folder two levels above ``path``), its dashboard script is shared from
    there. Returns the path and the self-contained page (for MLflow, where nothing is shared)."""
    snapshot.save_html(str(path))
    page = _with_header(path.read_text(encoding="utf-8"), summary)
    slim = _shared_library(page, library, "../../") if library is not None else page
    path.write_text(slim, encoding="utf-8")
    return path, page
