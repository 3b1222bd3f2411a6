//! What `framekeep view` and `framekeep serve` share about their source: which camera
//! (or the synthetic pattern) to use, the checks clap cannot make on the options that
//! shape it, and how a camera is opened. One place, so the two commands cannot drift
//! apart on what `--size`, `--seconds` or a missing camera mean.

use std::process::ExitCode;
use std::sync::mpsc::Sender;
use std::time::Duration;

use framekeep_cli::app::Chain;
use framekeep_core::frame::{FrameSize, PixelFormat};
use framekeep_core::pipeline::SyntheticSource;
use framekeep_v4l::{
    list_devices, CaptureStream, FormatRequest, FourCc, StreamOptions, StreamStats,
};

/// The camera to open: the one asked for (`source`), none for `synthetic`, else the first
/// capture device; with none found, says so (the synthetic pattern runs instead, as
/// `instead` tells the user) and returns `None`.
pub(crate) fn choose_camera(source: Option<&str>, instead: &str) -> Option<String> {
    match source {
        Some("synthetic") => return None,
        Some(device) => return Some(device.to_owned()),
        None => {}
    }
    match list_devices().into_iter().next() {
        Some(d) => Some(d.info.path),
        None => {
            println!("no camera found (no V4L2 capture device under /dev/video*): {instead}");
            None
        }
    }
}

/// `--size` as V4L2 can ask for it.
pub(crate) fn check_size(size: FrameSize) -> Result<(), String> {
    let (w, h) = (size.width, size.height);
    if u32::try_from(w).is_err() || u32::try_from(h).is_err() {
        return Err(format!(
            "--size {w}x{h}: a V4L2 frame size is at most 4294967295 a side"
        ));
    }
    Ok(())
}

/// `--seconds` as a run time; longer than the clock can count is "until stopped".
pub(crate) fn run_time(seconds: Option<f64>) -> Result<Option<Duration>, String> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_finite() && s >= 0.0 => Ok(Duration::try_from_secs_f64(s).ok()),
        Some(s) => Err(format!("--seconds {s}: expected a positive number")),
    }
}

/// What a camera (or the synthetic pattern) is asked for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CameraRequest {
    pub(crate) format: PixelFormat,
    /// Checked by [`check_size`].
    pub(crate) size: FrameSize,
    pub(crate) fps: u32,
    pub(crate) buffers: u32,
}

impl CameraRequest {
    /// Stream options for this request (a 2 s dequeue timeout), sending the stream's
    /// final statistics to `on_close` when it closes.
    pub(crate) fn options(&self, on_close: Sender<StreamStats>) -> StreamOptions {
        let (w, h) = (self.size.width as u32, self.size.height as u32);
        let request = FormatRequest::new(FourCc(self.format.fourcc()), w, h).fps(self.fps);
        StreamOptions::new()
            .format(request)
            .buffers(self.buffers)
            .timeout(Duration::from_secs(2))
            .with_on_close(move |stats| {
                let _ = on_close.send(*stats);
            })
    }
}

/// Opens `device` with `options` and announces what was negotiated; a failure is two
/// lines on stderr (the error with its causes, then how to run without a camera) and
/// exit status 1. `command` is `view` or `serve`.
pub(crate) fn open_camera(
    command: &str,
    device: &str,
    options: StreamOptions,
) -> Result<CaptureStream, ExitCode> {
    match CaptureStream::open(device, options) {
        Ok(stream) => {
            println!("camera {device}: {}", stream.negotiated());
            Ok(stream)
        }
        Err(e) => {
            eprintln!(
                "framekeep {command}: cannot capture from {device}: {}",
                Chain(&e)
            );
            eprintln!("hint: `framekeep {command} synthetic` uses the built-in test pattern");
            Err(ExitCode::from(1))
        }
    }
}

/// The embedded test pattern (`framekeep view` and `framekeep serve` without a camera),
/// announced on stdout; a rate it refuses is one line on stderr and exit status 2.
/// `command` is `view` or `serve`.
pub(crate) fn synthetic(
    command: &str,
    request: &CameraRequest,
    frames: Option<u64>,
) -> Result<SyntheticSource, ExitCode> {
    let CameraRequest {
        format,
        size,
        fps,
        buffers,
    } = *request;
    let mut source = SyntheticSource::builder(format, size.width, size.height)
        .fps(f64::from(fps))
        .buffers(buffers as usize);
    if let Some(n) = frames {
        source = source.frames(n);
    }
    let source = source.build().map_err(|e| {
        eprintln!("framekeep {command}: {}", Chain(&e));
        ExitCode::from(2)
    })?;
    println!(
        "synthetic test pattern: {}x{} {format} at {fps} fps",
        size.width, size.height
    );
    Ok(source)
}
