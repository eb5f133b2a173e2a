//! The report as text for a terminal: a summary and tables people read.

use super::Report;
use std::fmt::Write;

/// Display width: CJK and other wide characters take two columns.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum()
}

/// A table: the first column left-aligned, the others right-aligned.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(width(c));
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = " ".repeat(w[i] - width(c));
            if i == 0 || (i == 1 && header.get(1) == Some(&"matter")) {
                let _ = write!(l, "{c}{pad}  ");
            } else {
                let _ = write!(l, "{pad}{c}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for r in rows {
        line(r);
    }
    out
}

pub fn rate(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("{:.1}%", r * 100.0))
}

/// The whole report as text.
pub fn render(r: &Report) -> String {
    let mut s = String::new();
    totals(&mut s, r);
    breakdowns(&mut s, r);
    if let Some(m) = &r.must_query {
        must_query(&mut s, r.window_days, m);
    }
    warnings(&mut s, r);
    s
}

/// The heading and the totals.
fn totals(s: &mut String, r: &Report) {
    let t = &r.totals;
    let day = |d: Option<crate::date::Day>| d.map_or("—".to_string(), |d| d.to_string());
    let _ = writeln!(
        s,
        "Follow-through report (跟踪问效), {} … {}; {} register file(s)",
        day(r.period.from),
        day(r.period.to),
        r.files.len()
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "checks {}   subjects {}   listed {}",
        t.checks, t.subjects, t.listed
    );
    let _ = writeln!(
        s,
        "triggered measures {}: applied {}, not applied {}, no feedback {}; rate {}",
        t.triggered,
        t.applied,
        t.not_applied,
        t.no_feedback,
        rate(t.rate)
    );
    let _ = writeln!(
        s,
        "discretionary (may apply) {}, of which applied {}; unmatched feedback {}",
        t.discretionary, t.discretionary_applied, t.unmatched_feedback
    );
    let _ = writeln!(
        s,
        "batch frames {} ({} codes; batch records name no measures)",
        t.batch_frames, t.batch_codes
    );
}

fn outcome_cells(o: &super::Outcomes, r: Option<f64>) -> Vec<String> {
    vec![
        o.triggered.to_string(),
        o.applied.to_string(),
        o.not_applied.to_string(),
        o.no_feedback.to_string(),
        rate(r),
    ]
}

/// The tables by client and matter, by measure and by listing authority.
fn breakdowns(s: &mut String, r: &Report) {
    let _ = writeln!(s, "\nBy client and matter");
    let rows: Vec<Vec<String>> = r
        .clients
        .iter()
        .map(|c| {
            let mut v = vec![
                c.client.clone(),
                c.matter.clone(),
                c.checks.to_string(),
                c.subjects.to_string(),
                c.listed.to_string(),
            ];
            v.extend(outcome_cells(&c.outcomes, c.rate));
            v
        })
        .collect();
    s.push_str(&table(
        &[
            "client",
            "matter",
            "checks",
            "subjects",
            "listed",
            "triggered",
            "applied",
            "not_applied",
            "no_feedback",
            "rate",
        ],
        &rows,
    ));
    let _ = writeln!(s, "\nBy measure");
    let rows: Vec<Vec<String>> = r
        .measures
        .iter()
        .map(|m| {
            let mut v = vec![m.measure.clone()];
            v.extend(outcome_cells(&m.outcomes, m.rate));
            v
        })
        .collect();
    s.push_str(&table(
        &[
            "measure",
            "triggered",
            "applied",
            "not_applied",
            "no_feedback",
            "rate",
        ],
        &rows,
    ));
    let _ = writeln!(s, "\nBy listing authority (认定单位)");
    let rows: Vec<Vec<String>> = r
        .authorities
        .iter()
        .map(|a| {
            let mut v = vec![a.authority.clone()];
            v.extend(outcome_cells(&a.outcomes, a.rate));
            v
        })
        .collect();
    s.push_str(&table(
        &[
            "authority",
            "triggered",
            "applied",
            "not_applied",
            "no_feedback",
            "rate",
        ],
        &rows,
    ));
}

/// Approvals that should have been checked (应查必查), and those that were not.
fn must_query(s: &mut String, window_days: u32, m: &super::MustQuery) {
    let _ = writeln!(
        s,
        "\nMust query (应查必查, window {} days): {} approvals, {} checked, {} unchecked",
        window_days,
        m.approvals,
        m.checked,
        m.unchecked.len()
    );
    if !m.unchecked.is_empty() {
        let rows: Vec<Vec<String>> = m
            .unchecked
            .iter()
            .map(|a| {
                vec![
                    a.approval_id.clone(),
                    a.client.clone(),
                    a.matter.clone(),
                    a.code.clone(),
                    a.decided_on.to_string(),
                ]
            })
            .collect();
        s.push_str(&table(
            &["approval_id", "client", "matter", "code", "decided_on"],
            &rows,
        ));
    }
}

/// The warnings kept, and how many more there were.
fn warnings(s: &mut String, r: &Report) {
    if r.warning_count > 0 {
        let _ = writeln!(s, "\nWarnings: {}", r.warning_count);
        for w in &r.warnings {
            let _ = writeln!(s, "  {w}");
        }
        let more = r.warning_count.saturating_sub(r.warnings.len() as u64);
        if more > 0 {
            let _ = writeln!(s, "  … and {more} more");
        }
    }
}
