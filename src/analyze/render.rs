//! One document model for every analytics command, rendered as plain text, Markdown or a
//! self-contained HTML page (inline CSS, inline SVG bar charts, no scripts, no external
//! assets: a compliance lead can open it offline or attach it to an audit).
//!
//! Commands build a `Doc` from their typed result; JSON output serialises the typed result
//! instead, so this module never decides what data a machine sees.

use std::fmt::Write;

/// A titled document: key facts, then sections.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    pub title: String,
    pub facts: Vec<(String, String)>,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, Default)]
pub struct Section {
    pub title: String,
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone)]
pub enum Block {
    Para(String),
    Table(Table),
    /// Shown in HTML only (text and Markdown carry the same numbers in a table).
    Chart(Chart),
    /// A line chart over time, HTML only like `Chart`.
    Lines(LineChart),
}

/// Lines over a shared x axis (snapshot dates), one per series.
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    pub title: String,
    pub x: Vec<String>,
    /// (name, one value per x; `None` where the series has no point).
    pub series: Vec<(String, Vec<Option<f64>>)>,
    /// Values are percentages (the y axis spans 0 to 100).
    pub percent: bool,
}

/// A table; `more` rows were left out (the `--limit`).
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub more: u64,
}

/// Horizontal bars, one per label, each split into `series` segments.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub title: String,
    pub series: Vec<String>,
    pub rows: Vec<(String, Vec<f64>)>,
    /// Values are percentages (bars scale to 100) rather than counts.
    pub percent: bool,
}

impl Section {
    pub fn new(title: impl Into<String>) -> Self {
        Section { title: title.into(), blocks: Vec::new() }
    }
    pub fn para(mut self, text: impl Into<String>) -> Self {
        self.blocks.push(Block::Para(text.into()));
        self
    }
    pub fn table(mut self, t: Table) -> Self {
        self.blocks.push(Block::Table(t));
        self
    }
    pub fn chart(mut self, c: Chart) -> Self {
        self.blocks.push(Block::Chart(c));
        self
    }
    pub fn lines(mut self, c: LineChart) -> Self {
        self.blocks.push(Block::Lines(c));
        self
    }
}

impl Table {
    pub fn new(columns: &[&str]) -> Self {
        Table { columns: columns.iter().map(|c| c.to_string()).collect(), rows: Vec::new(), more: 0 }
    }
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.trim_end_matches('%').parse::<f64>().is_ok()
}

fn more_note(more: u64) -> String {
    format!("… and {more} more (raise --limit, or use --limit 0 for all)")
}

// ------------------------------------------------------------------------------------------
// Text
// ------------------------------------------------------------------------------------------

pub fn text(doc: &Doc) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", doc.title);
    let _ = writeln!(o, "{}", "=".repeat(doc.title.chars().count()));
    let w = doc.facts.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    for (k, v) in &doc.facts {
        let _ = writeln!(o, "{k:<w$}  {v}");
    }
    for s in &doc.sections {
        let _ = writeln!(o, "\n{}\n{}", s.title, "-".repeat(s.title.chars().count()));
        let mut after_table = false;
        for b in &s.blocks {
            match b {
                Block::Para(p) => {
                    let gap = if after_table { "\n" } else { "" };
                    let _ = writeln!(o, "{gap}{p}");
                    after_table = false;
                }
                Block::Table(t) => {
                    text_table(&mut o, t);
                    after_table = true;
                }
                Block::Chart(_) | Block::Lines(_) => {}
            }
        }
    }
    o
}

fn text_table(o: &mut String, t: &Table) {
    if t.rows.is_empty() {
        let _ = writeln!(o, "  (none)");
        return;
    }
    let n = t.columns.len();
    let mut width: Vec<usize> = t.columns.iter().map(|c| c.chars().count()).collect();
    for r in &t.rows {
        for (i, c) in r.iter().enumerate().take(n) {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..n).map(|i| t.rows.iter().all(|r| r.get(i).is_some_and(|c| is_numeric(c)))).collect();
    let line = |o: &mut String, cells: &[String]| {
        let mut s = String::from(" ");
        for (i, c) in cells.iter().enumerate().take(n) {
            let pad = width[i] - c.chars().count();
            s.push(' ');
            if numeric[i] {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            } else {
                s.push_str(c);
                if i + 1 < n {
                    s.push_str(&" ".repeat(pad));
                }
            }
            if i + 1 < n {
                s.push(' ');
            }
        }
        let _ = writeln!(o, "{}", s.trim_end());
    };
    line(o, &t.columns);
    line(o, &width.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
    for r in &t.rows {
        line(o, r);
    }
    if t.more > 0 {
        let _ = writeln!(o, "  {}", more_note(t.more));
    }
}

// ------------------------------------------------------------------------------------------
// Markdown
// ------------------------------------------------------------------------------------------

fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|").replace('\n', " ")
}

pub fn markdown(doc: &Doc) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n", md_cell(&doc.title));
    for (k, v) in &doc.facts {
        let _ = writeln!(o, "- **{}**: {}", md_cell(k), md_cell(v));
    }
    for s in &doc.sections {
        let _ = writeln!(o, "\n## {}\n", md_cell(&s.title));
        for b in &s.blocks {
            match b {
                Block::Para(p) => {
                    let _ = writeln!(o, "{}\n", md_cell(p));
                }
                Block::Table(t) if t.rows.is_empty() => {
                    let _ = writeln!(o, "_(none)_\n");
                }
                Block::Table(t) => {
                    let numeric: Vec<bool> = (0..t.columns.len())
                        .map(|i| t.rows.iter().all(|r| r.get(i).is_some_and(|c| is_numeric(c))))
                        .collect();
                    let _ = writeln!(o, "| {} |", t.columns.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | "));
                    let rule: Vec<&str> = numeric.iter().map(|n| if *n { "---:" } else { "---" }).collect();
                    let _ = writeln!(o, "| {} |", rule.join(" | "));
                    for r in &t.rows {
                        let _ = writeln!(o, "| {} |", r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | "));
                    }
                    if t.more > 0 {
                        let _ = writeln!(o, "\n_{}_", more_note(t.more));
                    }
                    o.push('\n');
                }
                Block::Chart(_) | Block::Lines(_) => {}
            }
        }
    }
    o
}

// ------------------------------------------------------------------------------------------
// HTML
// ------------------------------------------------------------------------------------------

pub fn escape(s: &str) -> String {
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

const CSS: &str = "body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1f2328;line-height:1.45}\
h1{font-size:1.6rem;border-bottom:2px solid #d0d7de;padding-bottom:.3rem}\
h2{font-size:1.2rem;margin-top:2.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}\
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.15rem 1rem;font-size:.92rem}\
dl.facts dt{font-weight:600;color:#57606a}dl.facts dd{margin:0}\
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.88rem}\
th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}\
tr:nth-child(even) td{background:#fbfcfd}p.more,p.none{color:#57606a;font-style:italic}\
figure{margin:.6rem 0 1rem}figcaption{font-size:.85rem;color:#57606a;margin-bottom:.3rem}\
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table{break-inside:auto}}";

const COLORS: [&str; 8] = ["#2da44e", "#cf222e", "#bf8700", "#0969da", "#8250df", "#57606a", "#1b7c83", "#bc4c00"];

pub fn html(doc: &Doc) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&doc.title),
        escape(&doc.title)
    );
    if !doc.facts.is_empty() {
        o.push_str("<dl class=\"facts\">\n");
        for (k, v) in &doc.facts {
            let _ = writeln!(o, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(v));
        }
        o.push_str("</dl>\n");
    }
    for s in &doc.sections {
        let _ = writeln!(o, "<section>\n<h2>{}</h2>", escape(&s.title));
        for b in &s.blocks {
            match b {
                Block::Para(p) => {
                    let _ = writeln!(o, "<p>{}</p>", escape(p));
                }
                Block::Table(t) => html_table(&mut o, t),
                Block::Chart(c) => svg_chart(&mut o, c),
                Block::Lines(c) => svg_lines(&mut o, c),
            }
        }
        o.push_str("</section>\n");
    }
    o.push_str("</body>\n</html>\n");
    o
}

fn html_table(o: &mut String, t: &Table) {
    if t.rows.is_empty() {
        o.push_str("<p class=\"none\">(none)</p>\n");
        return;
    }
    let numeric: Vec<bool> =
        (0..t.columns.len()).map(|i| t.rows.iter().all(|r| r.get(i).is_some_and(|c| is_numeric(c)))).collect();
    o.push_str("<table>\n<thead><tr>");
    for c in &t.columns {
        let _ = write!(o, "<th>{}</th>", escape(c));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for r in &t.rows {
        o.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let class = if numeric.get(i).copied().unwrap_or(false) { " class=\"n\"" } else { "" };
            let _ = write!(o, "<td{class}>{}</td>", escape(c));
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table>\n");
    if t.more > 0 {
        let _ = writeln!(o, "<p class=\"more\">{}</p>", escape(&more_note(t.more)));
    }
}

/// A horizontal stacked bar chart as inline SVG.
fn svg_chart(o: &mut String, c: &Chart) {
    if c.rows.is_empty() {
        return;
    }
    let label_w = 190.0;
    let bar_w = 460.0;
    let value_w = 80.0;
    let row_h = 22.0;
    let legend_h = if c.series.len() > 1 { 24.0 } else { 0.0 };
    let width = label_w + bar_w + value_w;
    let height = legend_h + row_h * c.rows.len() as f64 + 6.0;
    let max =
        if c.percent { 100.0 } else { c.rows.iter().map(|(_, v)| v.iter().sum::<f64>()).fold(0.0, f64::max).max(1.0) };
    let _ = writeln!(o, "<figure>\n<figcaption>{}</figcaption>", escape(&c.title));
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\" font-family=\"sans-serif\" font-size=\"12\">",
        escape(&c.title)
    );
    if c.series.len() > 1 {
        let mut x = label_w;
        for (i, s) in c.series.iter().enumerate() {
            let _ = writeln!(
                o,
                "<rect x=\"{x}\" y=\"4\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"14\">{}</text>",
                COLORS[i % COLORS.len()],
                x + 16.0,
                escape(s)
            );
            x += 28.0 + 8.0 * s.chars().count() as f64;
        }
    }
    for (r, (label, values)) in c.rows.iter().enumerate() {
        let y = legend_h + r as f64 * row_h;
        let short: String = if label.chars().count() > 28 {
            label.chars().take(27).chain(std::iter::once('…')).collect()
        } else {
            label.clone()
        };
        let _ = writeln!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}</text>",
            label_w - 8.0,
            y + 15.0,
            escape(label),
            escape(&short)
        );
        let mut x = label_w;
        for (i, v) in values.iter().enumerate() {
            let w = (bar_w * v / max).max(0.0);
            if w > 0.0 {
                let name = c.series.get(i).map(String::as_str).unwrap_or("");
                let _ = writeln!(
                    o,
                    "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {}</title></rect>",
                    y + 3.0,
                    row_h - 6.0,
                    COLORS[i % COLORS.len()],
                    escape(name),
                    fmt_value(*v, c.percent)
                );
            }
            x += w;
        }
        let total: f64 = values.iter().sum();
        let shown = if c.percent { values.first().copied().unwrap_or(0.0) } else { total };
        let _ = writeln!(o, "<text x=\"{:.1}\" y=\"{}\">{}</text>", x + 6.0, y + 15.0, fmt_value(shown, c.percent));
    }
    o.push_str("</svg>\n</figure>\n");
}

/// A line chart as inline SVG: y axis from 0 (to 100 for percentages), a point per x value
/// with its value as a tooltip, a legend when there are several series.
fn svg_lines(o: &mut String, c: &LineChart) {
    if c.x.is_empty() || c.series.is_empty() {
        return;
    }
    let (left, right, top, bottom) = (56.0, 48.0, 12.0, 40.0);
    let (plot_w, plot_h) = (640.0, 220.0);
    let legend_h = if c.series.len() > 1 { 20.0 * c.series.len().div_ceil(3) as f64 } else { 0.0 };
    let width = left + plot_w + right;
    let height = top + plot_h + bottom + legend_h;
    let max = if c.percent {
        100.0
    } else {
        nice_ceiling(c.series.iter().flat_map(|(_, v)| v.iter().flatten()).fold(0.0, |a: f64, b| a.max(*b)))
    };
    let n = c.x.len();
    let x_at = |i: usize| if n == 1 { left + plot_w / 2.0 } else { left + plot_w * i as f64 / (n - 1) as f64 };
    let y_at = |v: f64| top + plot_h - plot_h * (v / max).clamp(0.0, 1.0);
    let _ = writeln!(o, "<figure>\n<figcaption>{}</figcaption>", escape(&c.title));
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\" font-family=\"sans-serif\" font-size=\"11\">",
        escape(&c.title)
    );
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let y = y_at(v);
        let _ = writeln!(
            o,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#d0d7de\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + plot_w,
            left - 6.0,
            y + 4.0,
            fmt_value(v, c.percent)
        );
    }
    // At most ~8 x labels, always the first and the last.
    let step = n.div_ceil(8).max(1);
    for (i, label) in c.x.iter().enumerate() {
        if i % step == 0 || i + 1 == n {
            let _ = writeln!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x_at(i),
                top + plot_h + 16.0,
                escape(label)
            );
        }
    }
    for (s, (name, values)) in c.series.iter().enumerate() {
        let color = COLORS[s % COLORS.len()];
        let mut path = String::new();
        let mut pen_down = false;
        for (i, v) in values.iter().enumerate().take(n) {
            match v {
                Some(v) => {
                    let _ = write!(path, "{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, x_at(i), y_at(*v));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        if !path.is_empty() {
            let _ =
                writeln!(o, "<path d=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>", path.trim_end());
        }
        if n <= 120 {
            for (i, v) in values.iter().enumerate().take(n) {
                if let Some(v) = v {
                    let _ = writeln!(
                        o,
                        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"><title>{} {}: {}</title></circle>",
                        x_at(i),
                        y_at(*v),
                        escape(name),
                        escape(&c.x[i]),
                        fmt_value(*v, c.percent)
                    );
                }
            }
        }
        if c.series.len() > 1 {
            let lx = left + (s % 3) as f64 * 220.0;
            let ly = top + plot_h + bottom + 20.0 * (s / 3) as f64;
            let short: String = name.chars().take(28).collect();
            let _ = writeln!(
                o,
                "<rect x=\"{lx}\" y=\"{:.1}\" width=\"12\" height=\"4\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                ly - 6.0,
                lx + 16.0,
                ly,
                escape(&short)
            );
        }
    }
    o.push_str("</svg>\n</figure>\n");
}

/// The smallest 1, 2, 2.5 or 5 times a power of ten at or above `v` (at least 1), so the
/// four grid lines fall on round numbers.
fn nice_ceiling(v: f64) -> f64 {
    let v = v.max(1.0);
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * p).find(|c| *c >= v).unwrap_or(10.0 * p)
}

fn fmt_value(v: f64, percent: bool) -> String {
    if percent {
        format!("{v:.1}%")
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Doc {
        let mut t = Table::new(&["who", "n"]);
        t.row(vec!["a|b <x>".into(), "3".into()]);
        t.more = 2;
        Doc {
            title: "T".into(),
            facts: vec![("snapshot".into(), "S".into())],
            sections: vec![Section::new("One").para("p & q").table(t).chart(Chart {
                title: "c".into(),
                series: vec!["x".into(), "y".into()],
                rows: vec![("row".into(), vec![60.0, 40.0])],
                percent: true,
            })],
        }
    }

    #[test]
    fn formats_escape_and_note_truncation() {
        let d = doc();
        let t = text(&d);
        assert!(t.contains("a|b <x>  3"), "{t}");
        assert!(t.contains("and 2 more"));
        let m = markdown(&d);
        assert!(m.contains("| a\\|b <x> | 3 |"), "{m}");
        assert!(m.contains("| --- | ---: |"));
        let h = html(&d);
        assert!(h.contains("a|b &lt;x&gt;"));
        assert!(h.contains("<svg"));
        assert!(h.contains("p &amp; q"));
        for external in ["<script", "src=", "href=", "<link", "url("] {
            assert!(!h.contains(external), "no scripts or external assets: {external}");
        }
    }

    #[test]
    fn line_charts_break_at_missing_points_and_stay_out_of_text() {
        let d = Doc {
            title: "T".into(),
            facts: vec![],
            sections: vec![Section::new("S").lines(LineChart {
                title: "share <%>".into(),
                x: vec!["d1".into(), "d2".into(), "d3".into()],
                series: vec![("a&b".into(), vec![Some(50.0), None, Some(100.0)])],
                percent: true,
            })],
        };
        let h = html(&d);
        // Two separate pen-down moves: the missing point is not bridged.
        assert_eq!(h.matches("<path d=\"M").count(), 1, "{h}");
        assert!(h.contains(" M"), "{h}");
        assert!(h.contains("share &lt;%&gt;") && h.contains("a&amp;b d3: 100.0%"), "{h}");
        assert!(!text(&d).contains("share"));
        assert_eq!(nice_ceiling(10_020.0), 20_000.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }
}
