//! The terminal side of progress: how a run's progress is shown, the bar or plain lines
//! drawn from `run::progress` snapshots, and the log writer that hides the bar while a line
//! is written. Only the command that owns the terminal (`commands::run`) draws; the run
//! itself never imports this.
//!
//! On a terminal (`--progress auto` when stderr is a TTY, or `always`) an indicatif bar on
//! stderr: phase, pages, people enriched of total, requests/s, retries, 429s and an ETA.
//! `always` on a non-terminal prints a plain line now and then instead (log files have no
//! cursor). `never`, or `auto` without a terminal, prints nothing. Progress never touches
//! stdout, which carries only the summary line. Log lines written while a bar is shown go
//! through `ProgressAwareStderr`, which hides the bar for the moment of the write.

use crate::cli::ProgressMode;
use crate::run::progress::ProgressSnapshot;
use crate::stats::ApiStats;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the display is redrawn.
pub const TICK: Duration = Duration::from_millis(200);
/// How often `--progress always` prints a plain line when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(10);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Display {
    /// Counters only.
    #[default]
    None,
    /// An indicatif bar on stderr (a terminal).
    Bar,
    /// A plain line on stderr every few seconds and at each phase change.
    Plain,
}

impl Display {
    /// `auto` shows a bar only when stderr is a terminal; `always` falls back to plain lines.
    pub fn for_mode(mode: ProgressMode) -> Display {
        let tty = std::io::stderr().is_terminal();
        match mode {
            ProgressMode::Never => Display::None,
            ProgressMode::Auto if tty => Display::Bar,
            ProgressMode::Auto => Display::None,
            ProgressMode::Always if tty => Display::Bar,
            ProgressMode::Always => Display::Plain,
        }
    }
}

/// The bar currently drawn, so log lines can hide it while they are written.
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// A `tracing_subscriber` writer for stderr that suspends the progress bar (if one is
/// shown) while a log line is written, so lines and bar do not garble each other.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProgressAwareStderr;

pub struct StderrLine(Vec<u8>);

impl Write for StderrLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for StderrLine {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let bar = ACTIVE_BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let write = || {
            let _ = std::io::stderr().lock().write_all(&self.0);
        };
        match bar {
            Some(b) => b.suspend(write),
            None => write(),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ProgressAwareStderr {
    type Writer = StderrLine;
    fn make_writer(&'a self) -> Self::Writer {
        StderrLine(Vec::with_capacity(256))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Listing,
    Enriching,
}

/// Requests per second over the last few seconds (an exponential moving average).
#[derive(Debug)]
struct Rate {
    last: Option<(Instant, u64)>,
    per_sec: f64,
}

impl Rate {
    fn update(&mut self, requests: u64) -> f64 {
        let now = Instant::now();
        if let Some((t, n)) = self.last {
            let dt = now.duration_since(t).as_secs_f64();
            if dt > 0.0 {
                let instant = requests.saturating_sub(n) as f64 / dt;
                let alpha = (dt / 2.0).min(1.0);
                self.per_sec += alpha * (instant - self.per_sec);
            }
        }
        self.last = Some((now, requests));
        self.per_sec
    }
}

/// What is drawn for one run: `update` on every tick, `finish` once when the run ends.
pub struct View {
    display: Display,
    bar: Option<ProgressBar>,
    phase: Option<Phase>,
    rate: Rate,
    started: Instant,
    last_plain: Option<Instant>,
}

fn pages_done(api: Option<&ApiStats>) -> u64 {
    api.and_then(|a| a.requests_by_endpoint.get("personnel_list").copied()).unwrap_or(0)
}

impl View {
    pub fn new(display: Display) -> Self {
        let bar = (display == Display::Bar).then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5));
            *ACTIVE_BAR.lock().unwrap_or_else(|e| e.into_inner()) = Some(b.clone());
            b
        });
        View {
            display,
            bar,
            phase: None,
            rate: Rate { last: None, per_sec: 0.0 },
            started: Instant::now(),
            last_plain: None,
        }
    }

    fn api_text(&mut self, s: &ProgressSnapshot) -> String {
        let (requests, retries, limited) =
            s.api.as_ref().map_or((0, 0, 0), |a| (a.requests, a.retries, a.rate_limited));
        let rps = self.rate.update(requests);
        format!("{requests} requests, {rps:.0} req/s, {retries} retries, {limited} × 429")
    }

    pub fn update(&mut self, s: &ProgressSnapshot) {
        if self.display == Display::None {
            return;
        }
        let phase = if s.listing_done { Phase::Enriching } else { Phase::Listing };
        let changed = self.phase != Some(phase);
        self.phase = Some(phase);
        let api = self.api_text(s);
        let pages = pages_done(s.api.as_ref());
        if let Some(bar) = &self.bar {
            if changed {
                bar.set_style(style(phase));
                bar.reset_eta();
                match phase {
                    Phase::Listing => {
                        bar.set_prefix("listing");
                        if s.pages_expected > 0 {
                            bar.set_length(s.pages_expected);
                        }
                    }
                    Phase::Enriching => {
                        bar.set_prefix("enriching");
                        bar.set_length(s.listed);
                    }
                }
            }
            match phase {
                Phase::Listing => {
                    if s.pages_expected > 0 && pages > s.pages_expected {
                        bar.set_length(pages); // re-listing after drift
                    }
                    bar.set_position(pages);
                }
                Phase::Enriching => bar.set_position(s.enriched),
            }
            bar.set_message(api);
        } else {
            let due = self.last_plain.is_none_or(|t| t.elapsed() >= PLAIN_EVERY);
            if changed || due {
                self.last_plain = Some(Instant::now());
                eprintln!("{}", plain_line(phase, s, pages, &api, self.started.elapsed()));
            }
        }
    }

    pub fn finish(&mut self, s: &ProgressSnapshot) {
        match self.display {
            Display::None => {}
            Display::Bar => {
                if let Some(bar) = self.bar.take() {
                    *ACTIVE_BAR.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    bar.finish_and_clear();
                }
            }
            Display::Plain => {
                let phase = if s.listing_done { Phase::Enriching } else { Phase::Listing };
                let api = self.api_text(s);
                let pages = pages_done(s.api.as_ref());
                eprintln!("{} (stopped)", plain_line(phase, s, pages, &api, self.started.elapsed()));
            }
        }
    }
}

fn style(phase: Phase) -> ProgressStyle {
    let template = match phase {
        Phase::Listing => "{spinner} {prefix:>9} [{bar:28}] {pos}/{len} pages · {msg} · {elapsed}",
        Phase::Enriching => "{spinner} {prefix:>9} [{bar:28}] {pos}/{len} people · {msg} · ETA {eta}",
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

fn plain_line(phase: Phase, s: &ProgressSnapshot, pages: u64, api: &str, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    match phase {
        Phase::Listing => {
            let of = if s.pages_expected > 0 { format!("/{}", s.pages_expected) } else { String::new() };
            format!("progress: listing, pages {pages}{of}; {api}; {secs:.1}s elapsed")
        }
        Phase::Enriching => {
            let pct = if s.listed > 0 { 100.0 * s.enriched as f64 / s.listed as f64 } else { 100.0 };
            let eta = if s.enriched > 0 && s.listed > s.enriched {
                let left = secs / s.enriched as f64 * (s.listed - s.enriched) as f64;
                format!(", ETA {left:.0}s")
            } else {
                String::new()
            };
            format!(
                "progress: enriching, people {}/{} ({pct:.0}%), {} failed, {} gone; pages {pages}; {api}; {secs:.1}s elapsed{eta}",
                s.enriched, s.listed, s.failed, s.gone
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_and_non_terminal_auto_show_nothing() {
        assert_eq!(Display::for_mode(ProgressMode::Never), Display::None);
        if !std::io::stderr().is_terminal() {
            assert_eq!(Display::for_mode(ProgressMode::Auto), Display::None);
            assert_eq!(Display::for_mode(ProgressMode::Always), Display::Plain);
        }
    }

    #[test]
    fn plain_lines_say_where_the_run_is() {
        let s = ProgressSnapshot { listed: 200, listing_done: true, enriched: 50, failed: 1, ..Default::default() };
        let line = plain_line(Phase::Enriching, &s, 2, "10 requests", Duration::from_secs(10));
        assert!(line.contains("people 50/200 (25%)") && line.contains("ETA 30s"), "{line}");
        let s = ProgressSnapshot { pages_expected: 5, ..Default::default() };
        assert!(plain_line(Phase::Listing, &s, 3, "x", Duration::ZERO).contains("pages 3/5"));
    }

    #[test]
    fn rate_smooths() {
        let mut r = Rate { last: None, per_sec: 0.0 };
        assert_eq!(r.update(0), 0.0);
        std::thread::sleep(Duration::from_millis(50));
        assert!(r.update(100) > 0.0);
    }
}
