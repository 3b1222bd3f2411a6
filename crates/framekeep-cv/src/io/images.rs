//! [`ImageSequence`]: still images as a frame source.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, FrameLayout, FrameMeta, PixelFormat};
use framekeep_core::pipeline::{OnCorrupt, Source, StageError};
use framekeep_core::pool::{FramePool, PoolOptions};
use framekeep_core::time::monotonic_now;
use opencv::core::Size;
use opencv::imgproc::{resize, INTER_AREA};
use opencv::prelude::*;

use super::error::{file_error, io_error};
use super::read::{read_bgr, DEFAULT_MAX_PIXELS};
use crate::mat::{copy_to_frame, MatViewMut};
use crate::CvError;

/// File extensions `imread` decodes (lower case).
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "jpe", "bmp", "dib", "tif", "tiff", "webp", "pbm", "pgm", "ppm", "pxm",
    "pnm", "pfm", "sr", "ras", "jp2", "exr", "hdr", "pic",
];

/// Whether `path` has the extension of a format `imread` reads.
pub fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Whether `name` matches `pattern` (`*` any run, `?` one character).
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Still images as BGR24 frames, in order, optionally looping and paced.
///
/// Every image is decoded and copied (or resized) into a frame from the sequence's pool,
/// whose size is that of the first image unless [`ImageSequence::size`] says otherwise;
/// images of another size are resized to it. An image whose header announces more than
/// [`ImageSequence::max_pixels`] is refused before it is decoded
/// ([`CvError::ImageTooLarge`]). JPEGs are decoded strictly (a truncated one is corrupt,
/// not gray below the cut), other formats with `imread`; a file that does not decode is a
/// [`CvError::Corrupt`], counted in [`ImageSequence::corrupt`] and handled as
/// [`ImageSequence::on_corrupt`] says.
pub struct ImageSequence {
    paths: Vec<PathBuf>,
    next: usize,
    looping: bool,
    period: Option<Duration>,
    last: Option<Instant>,
    size: Option<(usize, usize)>,
    buffers: usize,
    pool: Option<FramePool>,
    sequence: u64,
    max_pixels: usize,
    on_corrupt: OnCorrupt,
    corrupt: u64,
    ended: bool,
}

impl ImageSequence {
    /// The images at `paths`, in that order.
    pub fn from_paths(paths: Vec<PathBuf>) -> Result<ImageSequence, CvError> {
        if paths.is_empty() {
            return Err(CvError::File {
                path: PathBuf::new(),
                reason: "no images".into(),
            });
        }
        Ok(ImageSequence {
            paths,
            next: 0,
            looping: false,
            period: None,
            last: None,
            size: None,
            buffers: 3,
            pool: None,
            sequence: 0,
            max_pixels: DEFAULT_MAX_PIXELS,
            on_corrupt: OnCorrupt::Error,
            corrupt: 0,
            ended: false,
        })
    }

    /// Every image file of `dir` (by extension), sorted by name.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<ImageSequence, CvError> {
        let dir = dir.as_ref();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io_error(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        paths.sort();
        ImageSequence::from_paths(paths).map_err(|_| file_error(dir, "no image files"))
    }

    /// The files matching `pattern`, whose last component may hold `*` and `?`
    /// (`frames/img_*.png`), sorted by name.
    pub fn from_glob(pattern: &str) -> Result<ImageSequence, CvError> {
        let path = Path::new(pattern);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| file_error(path, "no file name pattern"))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io_error(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| wildcard_match(name, n))
            })
            .collect();
        paths.sort();
        ImageSequence::from_paths(paths).map_err(|_| file_error(path, "matches no file"))
    }

    /// The images listed in a text file, one path per line (relative paths are relative
    /// to the list's directory; blank lines and `#` comments are skipped).
    pub fn from_list_file(list: impl AsRef<Path>) -> Result<ImageSequence, CvError> {
        let list = list.as_ref();
        let text = std::fs::read_to_string(list).map_err(|e| io_error(list, e))?;
        let base = list.parent().unwrap_or(Path::new("."));
        let paths = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| base.join(l))
            .collect();
        ImageSequence::from_paths(paths).map_err(|_| file_error(list, "lists no image"))
    }

    /// A directory, a glob (`*`/`?` in it), a list file (`.txt`/`.lst`) or one image.
    pub fn open(spec: &str) -> Result<ImageSequence, CvError> {
        let path = Path::new(spec);
        if spec.contains(['*', '?']) {
            ImageSequence::from_glob(spec)
        } else if path.is_dir() {
            ImageSequence::from_dir(path)
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("txt") || e.eq_ignore_ascii_case("lst"))
        {
            ImageSequence::from_list_file(path)
        } else {
            ImageSequence::from_paths(vec![path.to_path_buf()])
        }
    }

    /// Start again after the last image (until cancelled).
    pub fn looping(mut self, on: bool) -> Self {
        self.looping = on;
        self
    }

    /// At most `fps` frames per second (default: as fast as decoding goes;
    /// a rate that is not a positive number means that too). A rate so low
    /// that its period overflows a `Duration` waits as long as one can.
    pub fn fps(mut self, fps: f64) -> Self {
        self.period =
            (fps > 0.0).then(|| Duration::try_from_secs_f64(1.0 / fps).unwrap_or(Duration::MAX));
        self
    }

    /// Resize every image to `width x height`.
    pub fn size(mut self, width: usize, height: usize) -> Self {
        self.size = Some((width, height));
        self
    }

    /// Buffers of the sequence's pool (default 3).
    pub fn buffers(mut self, n: usize) -> Self {
        self.buffers = n.max(1);
        self
    }

    /// The most pixels an image may have (default [`DEFAULT_MAX_PIXELS`](super::DEFAULT_MAX_PIXELS)),
    /// checked from its header before decoding.
    pub fn max_pixels(mut self, n: usize) -> Self {
        self.max_pixels = n;
        self
    }

    /// What a corrupt image does (default [`OnCorrupt::Error`]: a user's file that does not
    /// decode deserves to be seen): `Skip` goes on with the next image, `Error` returns the
    /// [`CvError::Corrupt`] naming the file and goes on at the next call, `Fail` returns it
    /// and ends the sequence (later calls return `None`). Inside a pipeline an error ends
    /// the source either way.
    pub fn on_corrupt(mut self, policy: OnCorrupt) -> Self {
        self.on_corrupt = policy;
        self
    }

    /// Images found corrupt so far.
    pub fn corrupt(&self) -> u64 {
        self.corrupt
    }

    /// The image paths, in order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The pool frames come from (once the first image was read).
    pub fn pool(&self) -> Option<&FramePool> {
        self.pool.as_ref()
    }

    /// Reads the next image into a pooled frame (`None` at the end).
    pub fn read_next(&mut self, token: &CancelToken) -> Result<Option<Frame>, CvError> {
        // Skipped corrupt images in a row: a looping sequence of nothing but corrupt
        // images must not spin.
        let mut skipped = 0;
        let image = loop {
            if self.ended {
                return Ok(None);
            }
            if self.next >= self.paths.len() {
                if !self.looping {
                    return Ok(None);
                }
                self.next = 0;
            }
            let path = self.paths[self.next].clone();
            self.next += 1;
            match read_bgr(&path, self.max_pixels) {
                Ok(image) => break image,
                Err(e @ CvError::Corrupt { .. }) => {
                    self.corrupt += 1;
                    match self.on_corrupt {
                        OnCorrupt::Skip if skipped < self.paths.len() => skipped += 1,
                        OnCorrupt::Skip => {
                            return Err(file_error(&path, "every image of the sequence is corrupt"))
                        }
                        OnCorrupt::Error => return Err(e),
                        OnCorrupt::Fail => {
                            self.ended = true;
                            return Err(e);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        };
        let (w, h) = (image.cols() as usize, image.rows() as usize);
        let pool = match &self.pool {
            Some(pool) => pool.clone(),
            None => {
                let (pw, ph) = self.size.unwrap_or((w, h));
                let layout = FrameLayout::packed(PixelFormat::Bgr24, pw, ph)?;
                let pool = PoolOptions::new(layout)
                    .name("image-sequence")
                    .min_buffers(1)
                    .max_buffers(self.buffers)
                    .build()?;
                self.pool = Some(pool.clone());
                pool
            }
        };
        let layout = pool.layout();
        let mut frame = if (layout.width(), layout.height()) == (w, h) {
            copy_to_frame(&image, PixelFormat::Bgr24, &pool, "image-sequence")?
        } else {
            let mut frame = pool.acquire_cancellable("image-sequence", token)?;
            {
                let mut dst = MatViewMut::new(&mut frame)?;
                let size = Size::new(layout.width() as i32, layout.height() as i32);
                resize(&image, &mut dst, size, 0.0, 0.0, INTER_AREA)?;
                dst.ensure_in_place("resize")?;
            }
            frame
        };
        frame.set_meta(FrameMeta {
            sequence: self.sequence,
            timestamp: monotonic_now(),
        });
        self.sequence += 1;
        Ok(Some(frame))
    }

    fn pace(&mut self, token: &CancelToken) -> bool {
        if let (Some(period), Some(last)) = (self.period, self.last) {
            // `wait_timeout` takes any length; a due time past the clock's
            // range is "wait until cancelled".
            let left = period.saturating_sub(last.elapsed());
            if !left.is_zero() && token.wait_timeout(left) {
                return false;
            }
        }
        self.last = Some(Instant::now());
        true
    }
}

impl Source for ImageSequence {
    fn next_frame(&mut self, token: &CancelToken) -> Result<Option<Frame>, StageError> {
        if !self.pace(token) {
            return Err(StageError::Cancelled);
        }
        Ok(self.read_next(token)?)
    }
}

impl std::fmt::Debug for ImageSequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageSequence")
            .field("images", &self.paths.len())
            .field("next", &self.next)
            .field("looping", &self.looping)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.png", "a.png"));
        assert!(wildcard_match("img_??.png", "img_01.png"));
        assert!(!wildcard_match("img_??.png", "img_1.png"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("*.png", "a.jpg"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
    }
}
