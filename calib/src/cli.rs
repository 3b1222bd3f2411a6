//! Command-line pieces shared by calib-mono and calib-stereo.
//!
//! Both tools take the same board description and report errors the same way: one line on
//! stderr naming the culprit and a non-zero exit status, never a panic.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use framekeep_core::cancel::{install_ctrlc, CancelToken};

use crate::board::{Board, Pattern};
use crate::error::{CalibError, Result};
use crate::live::{CameraRequest, LiveCamera, LiveOptions, LiveProgress};
use crate::select::Selector;
use framekeep_core::frame::{FrameSize, PixelFormat};
use std::time::Duration;

/// Board arguments (flattened into each tool's clap parser).
#[derive(Debug, Clone, clap::Args)]
pub struct BoardArgs {
    /// Board features as COLSxROWS (inner corners for a chessboard), e.g. 9x6.
    #[arg(long = "board-size", short = 'b', value_name = "COLSxROWS")]
    pub board_size: String,
    /// Square size (chessboard) or grid spacing (circles), in --units.
    #[arg(long = "square-size", short = 's', default_value_t = 1.0)]
    pub square_size: f64,
    /// Unit of the square size, written to the outputs (e.g. mm, m).
    #[arg(long, default_value = "units")]
    pub units: String,
    /// Pattern: chessboard, circles (symmetric grid) or acircles (asymmetric grid).
    #[arg(long, default_value = "chessboard")]
    pub pattern: String,
}

impl BoardArgs {
    /// Builds and validates the board.
    pub fn board(&self) -> Result<Board> {
        let (c, r) = self
            .board_size
            .split_once(['x', 'X'])
            .ok_or_else(|| bad_size(&self.board_size))?;
        let cols = c.trim().parse().map_err(|_| bad_size(&self.board_size))?;
        let rows = r.trim().parse().map_err(|_| bad_size(&self.board_size))?;
        let pattern: Pattern = self.pattern.parse()?;
        Board::new(pattern, cols, rows, self.square_size)
    }
}

fn bad_size(s: &str) -> CalibError {
    CalibError::InvalidArgument(format!("board size {s:?} must look like 9x6"))
}

/// Prints an error and returns the exit code: 130 when interrupted, 1 otherwise.
pub fn report_error(tool: &str, err: &CalibError) -> ExitCode {
    eprintln!("{tool}: error: {err}");
    match err {
        CalibError::Cancelled(_) => ExitCode::from(130),
        _ => ExitCode::FAILURE,
    }
}

/// Ends a run the way both tools do: on success the skipped views on stderr, then
/// (unless `quiet`) the summary and where the result went, on stdout; on failure
/// [`report_error`]. `result` is the run's skipped views and summary.
pub fn report_outcome(
    tool: &str,
    result: Result<(Vec<String>, String)>,
    quiet: bool,
    output: &Path,
) -> ExitCode {
    match result {
        Ok((skipped, summary)) => {
            for s in &skipped {
                eprintln!("{tool}: skipped {s}");
            }
            if !quiet {
                print!("{summary}");
                println!("wrote {}", output.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => report_error(tool, &e),
    }
}

/// A root token cancelled by the first Ctrl-C (the second exits at once with 130).
pub fn interrupt_token(tool: &str) -> CancelToken {
    let root = CancelToken::new();
    if let Err(e) = install_ctrlc(&root) {
        tracing::warn!("{tool}: Ctrl-C handler not installed: {e}");
    }
    root
}

/// Installs a tracing subscriber honouring `RUST_LOG` (warnings by default), and silences
/// OpenCV's own stderr logging (see [`framekeep_cv::silence_opencv_log`]): a tool's
/// stderr holds its own messages only.
pub fn init_logging() {
    framekeep_cv::silence_opencv_log();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

/// The tool's final exit status: `status`, unless framekeep's ledger still holds live
/// resources (Mats, threads, leases), in which case they are listed and the run fails.
pub fn finish(tool: &str, status: ExitCode) -> ExitCode {
    let report = framekeep_core::ledger::Ledger::global().report();
    if report.is_empty() {
        status
    } else {
        eprintln!("{tool}: leak check failed, still alive at exit:\n{report}");
        ExitCode::from(3)
    }
}

/// The camera request and live-collection options both tools build from their live
/// arguments (`--camera-format`, `--camera-size`, `--views-dir`, `--max-frames`).
pub fn live_setup(
    board: Board,
    format: PixelFormat,
    size: FrameSize,
    views_dir: Option<PathBuf>,
    max_frames: Option<u64>,
    output: &Path,
) -> (CameraRequest, LiveOptions) {
    let request = CameraRequest {
        format,
        size,
        timeout: Duration::from_secs(2),
    };
    let live = LiveOptions {
        board,
        views_dir: views_dir.unwrap_or_else(|| default_views_dir(output)),
        max_frames,
        selector: Selector::default(),
    };
    (request, live)
}

/// How long a `--service` input waits for its first frame (for a publisher to come up)
/// before the run fails.
pub const SERVICE_FIRST_FRAME: Duration = Duration::from_secs(5);

/// One live input as given on the command line.
#[derive(Debug, Clone, Copy)]
pub enum LiveInput<'a> {
    /// A V4L2 camera (`--device`): a device path, card name or bus info.
    Device(&'a str),
    /// A framekeep service (`--service`) in the framekeep-ipc domain `--domain` (the
    /// user's default domain when `None`).
    Service {
        /// The service name (e.g. `camera/front`).
        name: &'a str,
        /// The domain's name.
        domain: Option<&'a str>,
    },
}

impl<'a> LiveInput<'a> {
    /// The input a tool's `--device`/`--service` pair names, if any (a device wins; clap
    /// makes them exclusive).
    pub fn from_args(
        device: Option<&'a str>,
        service: Option<&'a str>,
        domain: Option<&'a str>,
    ) -> Option<LiveInput<'a>> {
        match (device, service) {
            (Some(device), _) => Some(LiveInput::Device(device)),
            (None, Some(name)) => Some(LiveInput::Service { name, domain }),
            (None, None) => None,
        }
    }

    /// Opens the camera with `request`, or subscribes to the service (waiting up to
    /// [`SERVICE_FIRST_FRAME`] for its first frame when frames are pulled).
    pub fn open(self, request: &CameraRequest) -> Result<LiveCamera> {
        match self {
            LiveInput::Device(device) => LiveCamera::open(device, request),
            LiveInput::Service { name, domain } => {
                // As the `framekeep` command: `--domain`, else `FRAMEKEEP_DOMAIN`, else the
                // user's default domain.
                let given = if domain.is_some() {
                    "--domain"
                } else {
                    "FRAMEKEEP_DOMAIN"
                };
                let domain = domain.map(str::to_owned).or_else(|| {
                    std::env::var("FRAMEKEEP_DOMAIN")
                        .ok()
                        .filter(|d| !d.is_empty())
                });
                let domain = match &domain {
                    Some(d) => framekeep_ipc::Domain::named(d),
                    None => framekeep_ipc::Domain::new(),
                }
                .map_err(|e| match (e, &domain) {
                    (framekeep_ipc::IpcError::InvalidName { .. }, Some(d)) => {
                        CalibError::InvalidArgument(format!(
                            "{given} {d:?}: a domain name is 1 to {} ASCII letters, digits, '-' or '_'",
                            framekeep_ipc::Domain::max_name_len()
                        ))
                    }
                    (e, _) => CalibError::Service {
                        service: name.to_string(),
                        message: format!("cannot set up its domain: {e}"),
                    },
                })?;
                LiveCamera::subscribe(&domain, name, SERVICE_FIRST_FRAME)
            }
        }
    }
}

/// Where live views go when `--views-dir` is not given: `<output>.views`.
pub fn default_views_dir(output: &Path) -> PathBuf {
    let mut name = output.to_path_buf().into_os_string();
    name.push(".views");
    PathBuf::from(name)
}

/// Live collection progress on one terminal line (nothing unless `enabled` and stderr is
/// a terminal); [`LiveLine::done`] ends the line (once, however often it is called).
#[derive(Debug)]
pub struct LiveLine {
    tool: &'static str,
    shown: bool,
    open: std::cell::Cell<bool>,
}

impl LiveLine {
    /// A progress line for `tool`.
    pub fn new(tool: &'static str, enabled: bool) -> LiveLine {
        LiveLine {
            tool,
            shown: enabled && std::io::stderr().is_terminal(),
            open: std::cell::Cell::new(false),
        }
    }

    /// Rewrites the line with `p`.
    pub fn update(&self, p: &LiveProgress) {
        if self.shown {
            eprint!("\r{}: {}   ", self.tool, p.line());
            self.open.set(true);
        }
    }

    /// Ends the line.
    pub fn done(&self) {
        if self.open.replace(false) {
            eprintln!();
        }
    }
}
