//! What every framekeep program shares at its top: the leak-checked exit, the
//! Ctrl-C root token, one-line error messages with their causes, and the
//! ending of a display run.

use std::error::Error;
use std::fmt;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use framekeep_core::cancel::{install_ctrlc, CancelToken};
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pipeline::{Link, Pipeline, PipelineBuilder, PipelineReport};
use framekeep_cv::display::{Display, DisplayReport, DisplayWindow, Headless};

/// An error and its causes on one line (`outer: inner: root cause`), as a
/// user should see it: the outer error says what failed, its sources why.
pub struct Chain<'a>(pub &'a dyn Error);

/// A cause whose text the error before it already ends with (an error that prints its
/// source in its own message, as `open failed: No such file or directory`) is not
/// repeated.
impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !shown.ends_with(&text) {
                write!(f, ": {text}")?;
            }
            shown = text;
            source = cause.source();
        }
        Ok(())
    }
}

/// Runs `run`, then the leak check, printing its verdict (`leak check: clean
/// (...)`, which the tests look for); anything left alive turns the exit
/// status into 1.
pub fn leak_checked(run: impl FnOnce() -> ExitCode) -> ExitCode {
    let check = LeakCheck::new();
    let code = run();
    match check.finish_within(Duration::from_secs(2)) {
        Ok(()) => println!("leak check: clean (0 frames, Mats, leases, threads alive)"),
        Err(report) => {
            println!("leak check FAILED:\n{report}");
            return ExitCode::from(1);
        }
    }
    code
}

/// A root token that Ctrl-C cancels (a second Ctrl-C exits at once with
/// status 130); without a handler the program still runs (it can be stopped
/// the other ways), so that is only a warning.
pub fn ctrlc_root() -> CancelToken {
    let root = CancelToken::new();
    if let Err(e) = install_ctrlc(&root) {
        eprintln!("warning: no Ctrl-C handler: {}", Chain(&e));
    }
    root
}

/// The `--headless` mode called `name` (fail, null, record or offscreen).
pub fn headless_mode(name: &str) -> Option<Headless> {
    Some(match name {
        "fail" => Headless::Fail,
        "null" => Headless::Null,
        "record" => Headless::Record,
        "offscreen" => Headless::Offscreen,
        _ => return None,
    })
}

/// Ends `builder` with `window` as its sink and starts it. The window is fed
/// through a latest-frame edge, so a slow display never backs up the source.
/// A failure is printed and becomes exit status 1.
pub fn start_with_window(
    builder: PipelineBuilder,
    window: DisplayWindow,
) -> Result<Pipeline, ExitCode> {
    let sink_options = window.sink_options();
    builder
        .sink_with("display", Link::latest(), window, sink_options)
        .start()
        .map_err(|e| {
            eprintln!("{}", Chain(&e));
            ExitCode::from(1)
        })
}

/// Says `running` (what the tests wait for), waits until `root` is cancelled
/// (`q`, `Esc`, closing the window, Ctrl-C) or `seconds` pass, then stops the
/// pipeline before closing the display that its sink feeds, and prints both
/// reports.
pub fn show_until_quit(
    root: &CancelToken,
    seconds: Option<f64>,
    pipeline: Pipeline,
    display: Display,
) -> (PipelineReport, DisplayReport) {
    println!("running");
    let _ = std::io::stdout().flush();
    match seconds.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
        Some(d) => {
            root.wait_timeout(d);
        }
        None => root.wait(),
    }
    root.cancel();
    let report = pipeline.shutdown();
    let closed = display.close();
    println!("{report}\n{closed}");
    (report, closed)
}
