//! Inline SVG charts for the report page, drawn by hand: no script, no
//! font or style from outside the page. Colours are fixed (applied green,
//! not applied red, no feedback grey) and each chart carries a `<title>`
//! and text labels, so it reads without colour too.

use super::Outcomes;
use crate::date::Day;
use std::fmt::Write;

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

pub const APPLIED: &str = "#2e7d32";
pub const NOT_APPLIED: &str = "#c62828";
pub const NO_FEEDBACK: &str = "#b0b0b0";

const WIDTH: u32 = 760;
const LABEL_W: u32 = 260;
const BAR_W: u32 = 380;
const ROW_H: u32 = 24;

/// One horizontal bar per row: the triggered measures split into applied,
/// not applied and no feedback, with the rate written beside it.
pub fn rate_bars(title: &str, rows: &[(String, Outcomes)]) -> String {
    let h = 30 + ROW_H * rows.len().max(1) as u32 + 10;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" height="{h}" viewBox="0 0 {WIDTH} {h}"><title>{}</title>"#,
        esc(title)
    );
    let _ = write!(
        s,
        r##"<text x="{LABEL_W}" y="16" class="axis">0%</text><text x="{}" y="16" class="axis" text-anchor="end">100% of triggered</text>"##,
        LABEL_W + BAR_W
    );
    if rows.is_empty() {
        let _ = write!(
            s,
            r#"<text x="{LABEL_W}" y="44" class="axis">nothing triggered</text>"#
        );
    }
    for (i, (label, o)) in rows.iter().enumerate() {
        let y = 26 + ROW_H * i as u32;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end" class="label">{}</text>"#,
            LABEL_W - 8,
            y + 15,
            esc(&clip(label, 36))
        );
        let _ = write!(
            s,
            r##"<rect x="{LABEL_W}" y="{}" width="{BAR_W}" height="{}" fill="#f2f2f2"/>"##,
            y + 2,
            ROW_H - 6
        );
        let mut x = LABEL_W as f64;
        for (n, colour, what) in [
            (o.applied, APPLIED, "applied"),
            (o.not_applied, NOT_APPLIED, "not applied"),
            (o.no_feedback, NO_FEEDBACK, "no feedback"),
        ] {
            if o.triggered == 0 || n == 0 {
                continue;
            }
            let w = BAR_W as f64 * n as f64 / o.triggered as f64;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{}" width="{w:.1}" height="{}" fill="{colour}"><title>{} {what}: {n} of {}</title></rect>"#,
                y + 2,
                ROW_H - 6,
                esc(label),
                o.triggered
            );
            x += w;
        }
        let rate = o
            .rate()
            .map_or("—".to_string(), |r| format!("{:.1}%", r * 100.0));
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" class="label">{rate} ({}/{})</text>"#,
            LABEL_W + BAR_W + 8,
            y + 15,
            o.applied,
            o.triggered
        );
    }
    s.push_str("</svg>");
    s
}

/// One column per day with checks.
pub fn day_columns(title: &str, points: &[(Day, u64)]) -> String {
    let (h, top, bottom, left) = (220u32, 20u32, 40u32, 60u32);
    let plot_w = WIDTH - left - 20;
    let plot_h = h - top - bottom;
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" height="{h}" viewBox="0 0 {WIDTH} {h}"><title>{}</title>"#,
        esc(title)
    );
    let base = top + plot_h;
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{base}" x2="{}" y2="{base}" stroke="#666"/><line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#666"/>"##,
        left + plot_w
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="end" class="axis">{max}</text><text x="{}" y="{base}" text-anchor="end" class="axis">0</text>"#,
        left - 6,
        top + 4,
        left - 6
    );
    if points.is_empty() {
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" class="axis">no checks</text>"#,
            left + 10,
            top + 40
        );
    }
    // Columns for every day from the first to the last, gaps included.
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let days = (last.0 .0 - first.0 .0 + 1) as u32;
        let step = plot_w as f64 / days as f64;
        let w = (step * 0.8).max(1.0);
        for &(d, n) in points {
            let x = left as f64 + step * (d.0 - first.0 .0) as f64 + (step - w) / 2.0;
            let bh = plot_h as f64 * n as f64 / max as f64;
            let _ = write!(
                s,
                r##"<rect x="{x:.1}" y="{:.1}" width="{w:.1}" height="{bh:.1}" fill="#1565c0"><title>{d}: {n} checks</title></rect>"##,
                base as f64 - bh
            );
        }
        let _ = write!(
            s,
            r#"<text x="{left}" y="{}" class="axis">{}</text>"#,
            base + 18,
            first.0
        );
        if days > 1 {
            let _ = write!(
                s,
                r#"<text x="{}" y="{}" text-anchor="end" class="axis">{}</text>"#,
                left + plot_w,
                base + 18,
                last.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut o: String = s.chars().take(n - 1).collect();
    o.push('…');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let o = Outcomes {
            triggered: 2,
            applied: 1,
            not_applied: 1,
            no_feedback: 0,
        };
        let svg = rate_bars("t", &[("<a&b>".into(), o)]);
        assert!(svg.contains("&lt;a&amp;b&gt;"));
        assert!(!svg.contains("<a&b>"));
        assert!(svg.contains("50.0% (1/2)"));
    }
}
