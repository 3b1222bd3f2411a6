//! [`ImageSink`]: frames to PNG/JPEG files, every Nth and/or on demand.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use framekeep_core::frame::{Frame, PixelFormat};
use framekeep_core::pipeline::{Sink, StageError};
use opencv::core::Vector;
use opencv::imgcodecs::{imwrite, IMWRITE_JPEG_QUALITY, IMWRITE_PNG_COMPRESSION};
use parking_lot::Mutex;

use super::error::{file_error, io_error};
use crate::convert::SizedBgrConverter;
use crate::mat::MatView;
use crate::CvError;

/// The file format of snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// Lossless PNG (compression level 1: fast).
    Png,
    /// JPEG with this quality (0-100).
    Jpeg(u8),
}

impl ImageFormat {
    fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg(_) => "jpg",
        }
    }

    fn params(self) -> Vector<i32> {
        match self {
            ImageFormat::Png => Vector::from_slice(&[IMWRITE_PNG_COMPRESSION, 1]),
            ImageFormat::Jpeg(q) => {
                Vector::from_slice(&[IMWRITE_JPEG_QUALITY, i32::from(q.min(100))])
            }
        }
    }
}

/// Asks an [`ImageSink`] to write the next frame it consumes (e.g. from a display key
/// callback). Cheap to clone, usable from any thread.
#[derive(Clone, Debug, Default)]
pub struct SnapshotTrigger(Arc<AtomicBool>);

impl SnapshotTrigger {
    /// A trigger, not fired.
    pub fn new() -> SnapshotTrigger {
        SnapshotTrigger::default()
    }

    /// Have the next frame written.
    pub fn fire(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

/// Writes frames as `dir/<prefix>_<sequence>.<ext>`: every Nth frame, and whenever its
/// [`SnapshotTrigger`] fired. Non-BGR frames are converted first (pooled). With
/// [`keep_last`](Self::keep_last) only the newest files stay, so a long run cannot fill
/// the disk.
pub struct ImageSink {
    dir: PathBuf,
    prefix: String,
    format: ImageFormat,
    every: Option<u64>,
    trigger: Option<SnapshotTrigger>,
    keep: Option<usize>,
    consumed: u64,
    written: Arc<Mutex<Vec<PathBuf>>>,
    converter: SizedBgrConverter,
}

impl ImageSink {
    /// A sink writing PNGs into `dir` (created if missing), every frame.
    pub fn new(dir: impl AsRef<Path>) -> Result<ImageSink, CvError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
        Ok(ImageSink {
            dir,
            prefix: "frame".into(),
            format: ImageFormat::Png,
            every: Some(1),
            trigger: None,
            keep: None,
            consumed: 0,
            written: Arc::new(Mutex::new(Vec::new())),
            converter: SizedBgrConverter::new(2, "snapshot"),
        })
    }

    /// Write every `n`th frame (the first included); `None`: only on the trigger.
    pub fn every(mut self, n: Option<u64>) -> Self {
        self.every = n.filter(|&n| n > 0);
        self
    }

    /// Also write the next frame whenever `trigger` (or a clone of it) fires.
    pub fn with_trigger(mut self, trigger: &SnapshotTrigger) -> Self {
        self.trigger = Some(trigger.clone());
        self
    }

    /// Keep only the newest `n` files (at least 1): each write past them
    /// removes the oldest, and [`written`](Self::written) lists only the files
    /// kept. Default: every file stays.
    pub fn keep_last(mut self, n: usize) -> Self {
        self.keep = Some(n.max(1));
        self
    }

    /// PNG or JPEG.
    pub fn format(mut self, format: ImageFormat) -> Self {
        self.format = format;
        self
    }

    /// File name prefix (default `frame`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// A shared list of the files written so far (with
    /// [`keep_last`](Self::keep_last): the files kept, oldest first).
    pub fn written(&self) -> Arc<Mutex<Vec<PathBuf>>> {
        self.written.clone()
    }

    /// Writes `frame` now, whatever the schedule; returns the path.
    pub fn write(&mut self, frame: &Frame) -> Result<PathBuf, CvError> {
        let bgr = match frame.format() {
            PixelFormat::Bgr24 | PixelFormat::Gray8 | PixelFormat::Bgra32 => frame.clone(),
            _ => self.converter.convert(frame)?,
        };
        let path = self.dir.join(format!(
            "{}_{:06}.{}",
            self.prefix,
            frame.sequence(),
            self.format.extension()
        ));
        let view = MatView::from_frame(bgr)?;
        if !imwrite(&path, &view, &self.format.params())? {
            return Err(file_error(&path, "imwrite refused to write it"));
        }
        let mut written = self.written.lock();
        // The same sequence written twice (a trigger on a scheduled frame) is
        // one file.
        if written.last() != Some(&path) {
            written.push(path.clone());
        }
        if let Some(keep) = self.keep {
            while written.len() > keep {
                let oldest = written.remove(0);
                if let Err(e) = std::fs::remove_file(&oldest) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        return Err(io_error(&oldest, e));
                    }
                }
            }
        }
        Ok(path)
    }
}

impl Sink for ImageSink {
    fn consume(&mut self, frame: &Frame) -> Result<(), StageError> {
        let scheduled = self.every.is_some_and(|n| self.consumed % n == 0);
        let triggered = self.trigger.as_ref().is_some_and(SnapshotTrigger::take);
        self.consumed += 1;
        if scheduled || triggered {
            self.write(frame)?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for ImageSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageSink")
            .field("dir", &self.dir)
            .field("format", &self.format)
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// As a pipeline stage, the sink writes what its schedule or trigger asks for and
/// passes every frame on unchanged (no copy), e.g. in front of a display whose `s` key
/// fires the trigger.
impl framekeep_core::pipeline::Stage for ImageSink {
    fn process(
        &mut self,
        frame: Frame,
        out: &mut framekeep_core::pipeline::Output<'_>,
    ) -> Result<(), StageError> {
        self.consume(&frame)?;
        out.emit(frame)
    }
}
