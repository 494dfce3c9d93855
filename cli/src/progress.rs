//! Blob transfer progress on stderr. On a terminal: one live bar per blob
//! in flight (bytes, rate, ETA), redrawn a few times a second, and a
//! permanent line per finished blob. Otherwise: only the permanent line
//! per blob, so logs stay readable. A small renderer instead of a crate,
//! to keep the static binary small.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oci_registry::{BlobOutcome, Digest, Progress};

/// How often the terminal view is redrawn.
const TICK: Duration = Duration::from_millis(150);
/// Width of the bar itself.
const BAR: usize = 24;

/// One blob in flight.
struct Active {
    label: String,
    size: u64,
    done: u64,
    started: Instant,
}

#[derive(Default)]
struct State {
    /// In flight, by digest (ordered for a stable view).
    active: BTreeMap<String, Active>,
    /// Finished lines not yet printed.
    finished: Vec<String>,
    /// Live lines currently drawn under the permanent ones.
    drawn: usize,
}

/// A [`Progress`] that renders to stderr; see the module docs.
pub struct Bars {
    labels: HashMap<String, String>,
    /// Show only the label (files being downloaded), not the digest.
    labels_only: bool,
    tty: bool,
    state: Mutex<State>,
    stop: AtomicBool,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Bars {
    /// Bars naming blobs by `labels` (digest → file path) where known.
    /// Starts the redraw thread when stderr is a terminal.
    pub fn new(labels: HashMap<String, String>) -> Arc<Bars> {
        Self::start(labels, false)
    }

    /// Bars for downloads of files (key → file path): each line shows the
    /// path alone, since the key is only an id.
    pub fn for_files(labels: HashMap<String, String>) -> Arc<Bars> {
        Self::start(labels, true)
    }

    fn start(labels: HashMap<String, String>, labels_only: bool) -> Arc<Bars> {
        let bars = Arc::new(Bars {
            labels,
            labels_only,
            tty: std::io::stderr().is_terminal()
                && std::env::var_os("TERM").is_some_and(|t| t != "dumb"),
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
        });
        if bars.tty {
            let b = bars.clone();
            let handle = std::thread::spawn(move || {
                while !b.stop.load(Ordering::Relaxed) {
                    b.draw();
                    std::thread::sleep(TICK);
                }
            });
            *bars.lock_thread() = Some(handle);
        }
        bars
    }

    /// Stops redrawing and prints what is left.
    pub fn finish(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.lock_thread().take() {
            let _ = h.join();
        }
        self.draw();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_thread(&self) -> std::sync::MutexGuard<'_, Option<std::thread::JoinHandle<()>>> {
        self.thread.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn label(&self, digest: &Digest) -> String {
        let short = format!(
            "{}:{}",
            digest.algorithm(),
            digest.hex().get(..12).unwrap_or(digest.hex())
        );
        match self.labels.get(digest.as_str()) {
            Some(l) if self.labels_only => fit(l, 48),
            Some(l) => format!("{short} {}", fit(l, 32)),
            None => short,
        }
    }

    /// Writes finished lines, then (on a terminal) the live bars.
    fn draw(&self) {
        let mut st = self.lock();
        let mut out = String::new();
        if self.tty && st.drawn > 0 {
            // Up to the first live line, and clear to the end of screen.
            out.push_str(&format!("\x1b[{}F\x1b[J", st.drawn));
        }
        for line in st.finished.drain(..) {
            out.push_str(&line);
            out.push('\n');
        }
        st.drawn = 0;
        if self.tty && !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            // A wrapped line would break the cursor-up count: fit the width.
            let width = term_width().saturating_sub(1).max(20);
            for a in st.active.values() {
                out.push_str(&bar_line(
                    &a.label,
                    a.done,
                    a.size,
                    now.duration_since(a.started),
                    width,
                ));
                out.push('\n');
            }
            st.drawn = st.active.len();
        }
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }
}

impl Progress for Bars {
    fn started(&self, digest: &Digest, size: u64) {
        let label = self.label(digest);
        self.lock().active.insert(
            digest.to_string(),
            Active {
                label,
                size,
                done: 0,
                started: Instant::now(),
            },
        );
    }

    fn advanced(&self, digest: &Digest, bytes: u64) {
        if let Some(a) = self.lock().active.get_mut(digest.as_str()) {
            a.done = (a.done + bytes).min(a.size);
        }
    }

    fn resumed(&self, digest: &Digest, offset: u64) {
        if let Some(a) = self.lock().active.get_mut(digest.as_str()) {
            a.done = offset.min(a.size);
        }
    }

    fn done(&self, digest: &Digest, outcome: BlobOutcome) {
        let label = self.label(digest);
        let line = {
            let mut st = self.lock();
            let a = st.active.remove(digest.as_str());
            let size = a
                .as_ref()
                .map_or(String::new(), |a| format!(" ({})", super::human(a.size)));
            let took = a.map_or(String::new(), |a| {
                let secs = a.started.elapsed().as_secs_f64();
                if outcome == BlobOutcome::Uploaded || outcome == BlobOutcome::Downloaded {
                    format!(" in {secs:.1}s")
                } else {
                    String::new()
                }
            });
            let what = match outcome {
                BlobOutcome::Skipped => "already present",
                BlobOutcome::Mounted => "mounted",
                BlobOutcome::Uploaded => "uploaded",
                BlobOutcome::Downloaded => "downloaded",
            };
            let line = format!("{label}: {what}{size}{took}");
            if self.tty {
                st.finished.push(line);
                return;
            }
            line
        };
        eprintln!("{line}");
    }
}

/// `label [=====>      ] 1.2 MB / 4.0 MB  2.1 MB/s  ETA 2s`, at most
/// `width` characters: the bar shrinks first (to 10), then the line is
/// clipped.
fn bar_line(label: &str, done: u64, size: u64, elapsed: Duration, width: usize) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.05 { done as f64 / secs } else { 0.0 };
    let eta = if rate > 0.0 && size > done {
        format!("ETA {}", duration((size - done) as f64 / rate))
    } else {
        "ETA -".to_string()
    };
    let stats = format!(
        "{} / {}  {}/s  {eta}",
        super::human(done),
        super::human(size),
        super::human(rate as u64)
    );
    let room = width.saturating_sub(label.chars().count() + stats.chars().count() + 4);
    let bar_width = room.clamp(10, BAR);
    let filled = if size == 0 {
        bar_width
    } else {
        ((done as u128 * bar_width as u128) / size as u128) as usize
    };
    let mut bar = "=".repeat(filled.min(bar_width));
    if filled < bar_width {
        bar.push('>');
        bar.push_str(&" ".repeat(bar_width - filled - 1));
    }
    format!("{label} [{bar}] {stats}")
        .chars()
        .take(width)
        .collect()
}

/// Columns of the terminal on stderr: the kernel's window size, else
/// `$COLUMNS`, else 80.
fn term_width() -> usize {
    // SAFETY: TIOCGWINSZ only writes a `winsize` into the struct we pass.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        return ws.ws_col as usize;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|c| *c > 0)
        .unwrap_or(80)
}

/// Seconds as `42s`, `3m05s`, `1h02m`.
fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `s` shortened to at most `n` characters, keeping its end.
fn fit(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n {
        return s.to_string();
    }
    let tail: String = s.chars().skip(count - (n - 1)).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_show_bytes_rate_and_eta() {
        let l = bar_line("x", 50, 100, Duration::from_secs(5), 100);
        assert_eq!(
            l,
            "x [============>           ] 50 B / 100 B  10 B/s  ETA 5s"
        );
        let full = bar_line("x", 100, 100, Duration::from_secs(1), 100);
        assert!(full.contains(&format!("[{}]", "=".repeat(BAR))), "{full}");
        assert!(full.ends_with("ETA -"), "{full}");
        assert_eq!(
            bar_line("x", 0, 0, Duration::ZERO, 100)
                .matches('=')
                .count(),
            BAR
        );
        // Narrow terminals: the bar shrinks, then the line is clipped.
        assert_eq!(
            bar_line("x", 50, 100, Duration::from_secs(5), 50),
            "x [========>        ] 50 B / 100 B  10 B/s  ETA 5s"
        );
        assert_eq!(
            bar_line("x", 50, 100, Duration::from_secs(5), 43),
            "x [=====>    ] 50 B / 100 B  10 B/s  ETA 5s"
        );
        assert_eq!(
            bar_line("a-long-label", 50, 100, Duration::from_secs(5), 30)
                .chars()
                .count(),
            30
        );
    }

    #[test]
    fn durations_and_labels_read_well() {
        assert_eq!(duration(42.0), "42s");
        assert_eq!(duration(185.0), "3m05s");
        assert_eq!(duration(3720.0), "1h02m");
        assert_eq!(fit("short", 8), "short");
        assert_eq!(fit("a/very/long/path.bin", 8), "…ath.bin");
    }
}
