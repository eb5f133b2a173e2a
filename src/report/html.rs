//! The report as one self-contained HTML page: inline style, inline SVG
//! charts (`svg`), no script, no font, nothing fetched from anywhere.

use super::svg::{self, esc};
use super::text::rate;
use super::{Outcomes, Report};
use std::fmt::Write;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .6em;border-bottom:1px solid #eee;text-align:right}\
td:first-child,th:first-child,.text{text-align:left}.cards{display:flex;flex-wrap:wrap;gap:1em}\
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:9em}.card b{display:block;font-size:1.5em}\
.chart .label{font-size:12px}.chart .axis{font-size:11px;fill:#555}\
.legend span{display:inline-block;width:1em;height:1em;vertical-align:middle;margin:0 .3em 0 1em}\
.warn{color:#8a4b00}";

/// The page.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    summary(&mut s, r);
    charts(&mut s, r);
    if let Some(m) = &r.must_query {
        must_query(&mut s, r.window_days, m);
    }
    warnings(&mut s, r);
    s.push_str("</body></html>\n");
    s
}

/// The head, the title, cards with the totals and the colours' legend.
fn summary(s: &mut String, r: &Report) {
    let t = &r.totals;
    let day = |d: Option<crate::date::Day>| d.map_or("—".to_string(), |d| d.to_string());
    let _ = write!(
        s,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>跟踪问效 follow-through report {} … {}</title><link rel=\"icon\" href=\"data:,\"><style>{STYLE}</style></head><body>",
        esc(&day(r.period.from)),
        esc(&day(r.period.to))
    );
    let _ = write!(
        s,
        "<h1>跟踪问效 Follow-through report, {} … {}</h1><p>{} register file(s) read.</p>",
        esc(&day(r.period.from)),
        esc(&day(r.period.to)),
        r.files.len()
    );
    s.push_str("<div class=\"cards\">");
    for (label, value) in [
        ("checks", t.checks.to_string()),
        ("subjects", t.subjects.to_string()),
        ("listed", t.listed.to_string()),
        ("triggered", t.triggered.to_string()),
        ("applied", t.applied.to_string()),
        ("not applied", t.not_applied.to_string()),
        ("no feedback", t.no_feedback.to_string()),
        ("rate", rate(t.rate)),
        (
            "discretionary (applied)",
            format!("{} ({})", t.discretionary, t.discretionary_applied),
        ),
        ("unmatched feedback", t.unmatched_feedback.to_string()),
        (
            "batch frames (codes)",
            format!("{} ({})", t.batch_frames, t.batch_codes),
        ),
    ] {
        let _ = write!(
            s,
            "<div class=\"card\">{}<b>{}</b></div>",
            esc(label),
            esc(&value)
        );
    }
    s.push_str("</div>");
    let _ = write!(
        s,
        "<p class=\"legend\">Rate = applied / triggered (must apply and rewards).<span style=\"background:{}\"></span>applied<span style=\"background:{}\"></span>not applied<span style=\"background:{}\"></span>no feedback</p>",
        svg::APPLIED,
        svg::NOT_APPLIED,
        svg::NO_FEEDBACK
    );
}

/// The charts by client and matter (with its table), by measure, by
/// listing authority, and the checks per day.
fn charts(s: &mut String, r: &Report) {
    let rows: Vec<(String, Outcomes)> = r
        .clients
        .iter()
        .map(|c| (format!("{} · {}", c.client, c.matter), c.outcomes))
        .collect();
    section(
        s,
        "Rate by client and matter",
        &svg::rate_bars("Rate by client and matter", &rows),
    );
    client_table(s, r);
    let rows: Vec<(String, Outcomes)> = r
        .measures
        .iter()
        .map(|m| (m.measure.clone(), m.outcomes))
        .collect();
    section(
        s,
        "Rate by measure",
        &svg::rate_bars("Rate by measure", &rows),
    );
    let rows: Vec<(String, Outcomes)> = r
        .authorities
        .iter()
        .map(|a| (a.authority.clone(), a.outcomes))
        .collect();
    section(
        s,
        "Rate by listing authority (认定单位)",
        &svg::rate_bars("Rate by listing authority", &rows),
    );
    section(
        s,
        "Checks per day",
        &svg::day_columns("Checks per day", &r.checks_per_day),
    );
}

/// Approvals that should have been checked (应查必查), and those that were not.
fn must_query(s: &mut String, window_days: u32, m: &super::MustQuery) {
    let _ = write!(
        s,
        "<h2>应查必查 Must query</h2><p>{} approvals, {} checked within {} days before the decision, {} unchecked.</p>",
        m.approvals,
        m.checked,
        window_days,
        m.unchecked.len()
    );
    if !m.unchecked.is_empty() {
        s.push_str("<table id=\"unchecked\"><tr><th>approval_id</th><th>client</th><th>matter</th><th>code</th><th>decided_on</th></tr>");
        for a in &m.unchecked {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&a.approval_id),
                esc(&a.client),
                esc(&a.matter),
                esc(&a.code),
                a.decided_on
            );
        }
        s.push_str("</table>");
    }
}

/// The warnings kept, and how many more there were.
fn warnings(s: &mut String, r: &Report) {
    if r.warning_count > 0 {
        let _ = write!(
            s,
            "<h2>Warnings ({})</h2><ul class=\"warn\">",
            r.warning_count
        );
        for w in &r.warnings {
            let _ = write!(s, "<li>{}</li>", esc(w));
        }
        let more = r.warning_count.saturating_sub(r.warnings.len() as u64);
        if more > 0 {
            let _ = write!(s, "<li>… and {more} more</li>");
        }
        s.push_str("</ul>");
    }
}

fn section(s: &mut String, title: &str, chart: &str) {
    let _ = write!(s, "<h2>{}</h2><figure>{chart}</figure>", esc(title));
}

fn client_table(s: &mut String, r: &Report) {
    s.push_str("<table><tr><th>client</th><th class=\"text\">matter</th><th>checks</th><th>subjects</th><th>listed</th><th>triggered</th><th>applied</th><th>not applied</th><th>no feedback</th><th>rate</th></tr>");
    for c in &r.clients {
        let o = &c.outcomes;
        let _ = write!(
            s,
            "<tr><td>{}</td><td class=\"text\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.client),
            esc(&c.matter),
            c.checks,
            c.subjects,
            c.listed,
            o.triggered,
            o.applied,
            o.not_applied,
            o.no_feedback,
            rate(c.rate)
        );
    }
    s.push_str("</table>");
}
