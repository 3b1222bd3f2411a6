//! Zero-copy `Mat` views of frames: the only `unsafe` code of the crate.
//!
//! OpenCV can wrap memory it does not own in a `Mat` header (`Mat(rows, cols, type,
//! data, step)`). Such a header has no reference count on the pixels: if the memory goes
//! away first, the `Mat` dangles. The `opencv` crate marks the constructor `unsafe` and
//! offers `BoxedRef<'a, Mat>` to tie a header to a borrow. A borrow is not enough for a
//! pipeline, where a view must travel between threads with the frame it shows, so:
//!
//! * [`MatView`] *owns a clone of the [`Frame`]* next to the header. The frame handle
//!   keeps the buffer (and its pool lease) alive, and the header is declared first so it
//!   drops first: the pixels outlive the `Mat` by construction, whatever the caller
//!   drops in which order. The header is never handed out by value or through `Deref`
//!   (only as `&BoxedRef<Mat>`, which cannot be swapped out or shallow-copied into an
//!   unbounded `Mat`), so it cannot escape its frame.
//! * [`MatViewMut`] borrows a `&mut Frame` whose handle is unique
//!   ([`Frame::get_mut`]): nobody else can read the pixels while OpenCV writes them, so
//!   no reader sees a torn write.
//!
//! Every view is registered in the [`Ledger`] as [`Kind::MAT`] while it lives.
//!
//! # The limits of "by construction"
//!
//! The `opencv` crate's safe API has a few calls that return an *owned* header aliasing
//! their input, for any input, its own `BoxedRef<Mat>` included: the lazy expressions
//! of `MatTraitConst::t`/`mul`/`inv` (`MatExpr`), `MatTraitConst::get_umat`, and
//! `_InputArray::get_mat` on the array an input yields. framekeep never calls them on a
//! view and cannot forbid them without hiding the `Mat` traits altogether; a caller who
//! uses them must consume the result while the view lives, or deep-copy first
//! (`try_clone`, [`TrackedMat::copy_of`](super::TrackedMat::copy_of)).

use std::ffi::c_void;

use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
use framekeep_core::ledger::{Kind, Ledger, Tracked};
use opencv::boxed_ref::{BoxedRef, BoxedRefMut};
use opencv::core::{
    _InputArray, _InputOutputArray, _OutputArray, Mat, MatTrait, MatTraitConst, ToInputArray,
    ToInputOutputArray, ToOutputArray, CV_8UC1, CV_8UC2, CV_8UC3, CV_8UC4,
};

use crate::{fault, CvError};

/// The OpenCV element type that shows `format` (`None` for none).
///
/// GRAY8, NV12 and I420 (their luma rows followed by the chroma rows) are `CV_8UC1`,
/// BGR24 and RGB24 `CV_8UC3`, BGRA32 `CV_8UC4`, YUYV, UYVY and an NV12 chroma plane `CV_8UC2`,
/// and MJPEG a row of `CV_8UC1` bytes.
pub fn cv_type(format: PixelFormat) -> i32 {
    match format {
        PixelFormat::Gray8 | PixelFormat::Nv12 | PixelFormat::I420 | PixelFormat::Mjpeg => CV_8UC1,
        PixelFormat::Yuyv | PixelFormat::Uyvy | PixelFormat::Uv88 => CV_8UC2,
        PixelFormat::Bgr24 | PixelFormat::Rgb24 => CV_8UC3,
        PixelFormat::Bgra32 => CV_8UC4,
    }
}

/// Rows, columns, element type and step of the `Mat` that shows `layout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatShape {
    /// `Mat::rows` (NV12, I420: luma plus chroma rows, `height * 3 / 2`; MJPEG: 1).
    ///
    /// OpenCV reads an I420 `Mat` of step `s` as chroma rows `width / 2` long packed
    /// two to an `s`-byte row, which is the frame's layout (chroma rows `s / 2` apart)
    /// only when the frame is contiguous; [`BgrConverter`](crate::convert::BgrConverter) packs a padded I420
    /// frame before `cvtColor`.
    pub rows: i32,
    /// `Mat::cols` (MJPEG: the byte count).
    pub cols: i32,
    /// OpenCV element type (`CV_8UC3`, ...).
    pub typ: i32,
    /// Bytes between row starts.
    pub step: usize,
}

impl MatShape {
    /// The shape of a `Mat` over a frame with `layout`.
    pub fn of(layout: &FrameLayout) -> Result<MatShape, CvError> {
        let too_large = || CvError::TooLarge {
            width: layout.width(),
            height: layout.height(),
            stride: layout.stride(),
        };
        let (rows, cols, step) = match layout.format() {
            PixelFormat::Mjpeg => (1, layout.len(), layout.len()),
            PixelFormat::Nv12 | PixelFormat::I420 => (
                layout.height() + layout.height() / 2,
                layout.width(),
                layout.stride(),
            ),
            _ => (layout.height(), layout.width(), layout.stride()),
        };
        let rows = i32::try_from(rows).map_err(|_| too_large())?;
        let cols = i32::try_from(cols).map_err(|_| too_large())?;
        if rows == 0 || cols == 0 {
            return Err(CvError::MatMismatch(format!(
                "empty {}x{} frame",
                layout.width(),
                layout.height()
            )));
        }
        Ok(MatShape {
            rows,
            cols,
            typ: cv_type(layout.format()),
            step,
        })
    }

    /// Bytes a buffer must hold for this shape: every row but the last is `step` long.
    fn needed_bytes(&self, format: PixelFormat) -> usize {
        let elem = match format {
            PixelFormat::Mjpeg => 1,
            f => f.bytes_per_pixel().unwrap_or(1),
        };
        // rows >= 1 and cols >= 1 were checked in `of`.
        self.step * (self.rows as usize - 1) + self.cols as usize * elem
    }
}

fn track(name: &'static str) -> Tracked {
    Ledger::global().track(Kind::MAT, name)
}

/// A read-only, zero-copy `Mat` over a frame that keeps the frame alive.
///
/// Cheap (no pixel copy): one `Mat` header, one frame handle, one ledger entry. Pass it
/// (or [`MatView::mat`]) wherever OpenCV wants an input array or a `MatTraitConst`.
///
/// ```no_run
/// # use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
/// # use framekeep_cv::mat::MatView;
/// use opencv::prelude::*;
/// let frame = Frame::zeroed(FrameLayout::packed(PixelFormat::Bgr24, 64, 48)?)?;
/// let view = MatView::new(&frame)?;
/// drop(frame); // the view still owns a handle: its pixels stay valid
/// assert_eq!(view.rows(), 48);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MatView {
    // Field order matters: the header drops before the frame that owns its pixels.
    mat: BoxedRef<'static, Mat>,
    _token: Tracked,
    frame: Frame,
}

impl MatView {
    /// A view of `frame` (takes a new handle on its buffer).
    pub fn new(frame: &Frame) -> Result<MatView, CvError> {
        MatView::from_frame(frame.clone())
    }

    /// A view that takes over this frame handle.
    pub fn from_frame(frame: Frame) -> Result<MatView, CvError> {
        fault::on_mat_created()?;
        let shape = MatShape::of(frame.layout())?;
        let needed = shape.needed_bytes(frame.format());
        if frame.data().len() < needed {
            return Err(CvError::MatMismatch(format!(
                "frame holds {} bytes, its Mat needs {needed}",
                frame.data().len()
            )));
        }
        let data = frame.as_ptr().cast_mut().cast::<c_void>();
        // SAFETY: `data` points at `frame.data()`, which holds at least `needed` bytes,
        // exactly the extent of a `rows x cols` Mat of `typ` with rows `step` apart, so
        // OpenCV never reads outside the buffer. The buffer stays valid while `frame`
        // lives, and `frame` is stored next to the header and drops after it (field
        // order). The header is only lent out as `&BoxedRef<Mat>` (no `Deref`, no
        // by-value access), so no copy of it can outlive `self`. OpenCV never writes
        // through it: `MatView` implements no mutable Mat trait, and the const traits
        // only hand out const views and deep copies.
        let mat = unsafe {
            Mat::new_rows_cols_with_data_unsafe(shape.rows, shape.cols, shape.typ, data, shape.step)
        }?;
        Ok(MatView {
            mat: BoxedRef::from(mat),
            _token: track("mat-view"),
            frame,
        })
    }

    /// The `Mat` header, for OpenCV calls (borrowed: it cannot outlive the view).
    pub fn mat(&self) -> &BoxedRef<'_, Mat> {
        &self.mat
    }

    /// The frame behind the view.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// Ends the view and gives its frame handle back.
    pub fn into_frame(self) -> Frame {
        let MatView { mat, _token, frame } = self;
        drop(mat);
        frame
    }

    /// A view of a rectangle of this view (see [`Frame::roi`]); shares the buffer.
    pub fn roi(&self, x: usize, y: usize, width: usize, height: usize) -> Result<MatView, CvError> {
        MatView::from_frame(self.frame.roi(x, y, width, height)?)
    }
}

impl std::fmt::Debug for MatView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatView")
            .field("frame", &self.frame)
            .finish_non_exhaustive()
    }
}

impl MatTraitConst for MatView {
    fn as_raw_Mat(&self) -> *const c_void {
        self.mat.as_raw_Mat()
    }
}

impl ToInputArray for MatView {
    fn input_array(&self) -> opencv::Result<BoxedRef<'_, _InputArray>> {
        self.mat.input_array()
    }
}

impl ToInputArray for &MatView {
    fn input_array(&self) -> opencv::Result<BoxedRef<'_, _InputArray>> {
        self.mat.input_array()
    }
}

/// A writable, zero-copy `Mat` over a frame whose handle is unique.
///
/// Borrowing the frame mutably keeps it unique for the whole life of the view. OpenCV
/// writes straight into the frame's buffer, provided the output already has the size
/// and type the call produces; otherwise OpenCV would silently allocate a new `Mat`
/// instead, which [`MatViewMut::ensure_in_place`] detects.
pub struct MatViewMut<'f> {
    mat: BoxedRefMut<'f, Mat>,
    _token: Tracked,
    /// Address of the frame's first byte (compared, never dereferenced).
    data: usize,
    shape: MatShape,
}

impl<'f> MatViewMut<'f> {
    /// A writable view of `frame`; [`CvError::SharedFrame`] if other handles share its
    /// buffer (see [`Frame::make_mut`] to copy first).
    pub fn new(frame: &'f mut Frame) -> Result<MatViewMut<'f>, CvError> {
        let layout = *frame.layout();
        let shape = MatShape::of(&layout)?;
        let needed = shape.needed_bytes(layout.format());
        let bytes = frame.get_mut().ok_or(CvError::SharedFrame)?;
        if bytes.len() < needed {
            return Err(CvError::MatMismatch(format!(
                "frame holds {} bytes, its Mat needs {needed}",
                bytes.len()
            )));
        }
        fault::on_mat_created()?;
        let data = bytes.as_mut_ptr();
        // SAFETY: `bytes` is the unique mutable borrow of the frame's pixels for 'f and
        // holds at least `needed` bytes, the full extent of the Mat, so OpenCV stays in
        // bounds. The header lives in a `BoxedRefMut<'f, Mat>`, which cannot outlive
        // the borrow and cannot be swapped out (no `DerefMut`).
        let mat = unsafe {
            Mat::new_rows_cols_with_data_unsafe(
                shape.rows,
                shape.cols,
                shape.typ,
                data.cast::<c_void>(),
                shape.step,
            )
        }?;
        Ok(MatViewMut {
            mat: BoxedRefMut::from(mat),
            _token: track("mat-view-mut"),
            data: data as usize,
            shape,
        })
    }

    /// The `Mat` header, for OpenCV calls that read.
    pub fn mat(&self) -> &BoxedRefMut<'f, Mat> {
        &self.mat
    }

    /// The `Mat` header, for OpenCV calls that write.
    pub fn mat_mut(&mut self) -> &mut BoxedRefMut<'f, Mat> {
        &mut self.mat
    }

    /// `Ok` if the header still shows the frame's pixels with the original shape, i.e.
    /// the last OpenCV call wrote into the frame rather than into a `Mat` it allocated.
    pub fn ensure_in_place(&self, operation: &'static str) -> Result<(), CvError> {
        let same = self.mat.data() as usize == self.data
            && self.mat.rows() == self.shape.rows
            && self.mat.cols() == self.shape.cols
            && self.mat.typ() == self.shape.typ;
        if same {
            Ok(())
        } else {
            Err(CvError::Reallocated(operation))
        }
    }
}

impl std::fmt::Debug for MatViewMut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatViewMut")
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

impl MatTraitConst for MatViewMut<'_> {
    fn as_raw_Mat(&self) -> *const c_void {
        self.mat.as_raw_Mat()
    }
}

impl MatTrait for MatViewMut<'_> {
    fn as_raw_mut_Mat(&mut self) -> *mut c_void {
        self.mat.as_raw_mut_Mat()
    }
}

impl ToInputArray for MatViewMut<'_> {
    fn input_array(&self) -> opencv::Result<BoxedRef<'_, _InputArray>> {
        self.mat.input_array()
    }
}

impl ToOutputArray for MatViewMut<'_> {
    fn output_array(&mut self) -> opencv::Result<BoxedRefMut<'_, _OutputArray>> {
        self.mat.output_array()
    }
}

impl ToInputOutputArray for MatViewMut<'_> {
    fn input_output_array(&mut self) -> opencv::Result<BoxedRefMut<'_, _InputOutputArray>> {
        self.mat.input_output_array()
    }
}
