//! [`TrackedMat`]: a `Mat` that OpenCV allocated, under framekeep's accounting.
//!
//! OpenCV allocates the outputs of most calls itself (`imread`, `imdecode`, the result
//! of a `cvtColor` into an empty `Mat`). Those Mats own their pixels through OpenCV's
//! reference count and free them on drop, so they cannot dangle; what they can do is
//! pile up unnoticed (a cache that grows, a Mat kept in a closure). Wrapping each one in
//! a `TrackedMat` registers it in the [`Ledger`] as [`Kind::MAT`] (with a backtrace when
//! capture is on) until it drops, so a [`LeakCheck`](framekeep_core::ledger::LeakCheck)
//! sees it, like gocv's `MatProfile` but scoped per test.
//!
//! There is no `Deref` to `Mat`: the wrapper implements the `Mat` traits itself, so the
//! tracked `Mat` cannot be swapped out of its token. [`TrackedMat::into_mat`] leaves the
//! accounting explicitly.

use std::ffi::c_void;

use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
use framekeep_core::ledger::{Kind, Ledger, Tracked};
use framekeep_core::pool::FramePool;
use opencv::boxed_ref::{BoxedRef, BoxedRefMut};
use opencv::core::{
    _InputArray, _InputOutputArray, _OutputArray, Mat, MatTrait, MatTraitConst, Scalar,
    ToInputArray, ToInputOutputArray, ToOutputArray,
};

use super::view::{cv_type, MatViewMut};
use crate::{fault, CvError};

/// An OpenCV-allocated `Mat`, registered in the ledger while it lives.
pub struct TrackedMat {
    mat: Mat,
    token: Tracked,
}

impl TrackedMat {
    /// An empty `Mat`, to be filled by an OpenCV call (as an output array).
    pub fn empty(name: &'static str) -> Result<TrackedMat, CvError> {
        TrackedMat::adopt(Mat::default(), name)
    }

    /// A `rows x cols` Mat of `typ` with every element set to `value`.
    pub fn filled(
        rows: i32,
        cols: i32,
        typ: i32,
        value: Scalar,
        name: &'static str,
    ) -> Result<TrackedMat, CvError> {
        fault::on_mat_created()?;
        let mat = Mat::new_rows_cols_with_default(rows, cols, typ, value)?;
        Ok(TrackedMat::wrap(mat, name))
    }

    /// Puts a `Mat` that owns its pixels (one OpenCV allocated) under accounting.
    pub fn adopt(mat: Mat, name: &'static str) -> Result<TrackedMat, CvError> {
        fault::on_mat_created()?;
        Ok(TrackedMat::wrap(mat, name))
    }

    fn wrap(mat: Mat, name: &'static str) -> TrackedMat {
        TrackedMat {
            mat,
            token: Ledger::global().track(Kind::MAT, name),
        }
    }

    /// A deep copy of any Mat (a view included), tracked.
    pub fn copy_of(src: &impl MatTraitConst, name: &'static str) -> Result<TrackedMat, CvError> {
        fault::on_mat_created()?;
        Ok(TrackedMat::wrap(src.try_clone()?, name))
    }

    /// The tracked `Mat`, borrowed.
    pub fn mat(&self) -> &Mat {
        &self.mat
    }

    /// The ledger id of this Mat's entry.
    pub fn ledger_id(&self) -> u64 {
        self.token.id()
    }

    /// Leaves the accounting: the `Mat` is the caller's, untracked, from now on.
    pub fn into_mat(self) -> Mat {
        let TrackedMat { mat, token } = self;
        token.untrack();
        mat
    }

    /// Copies this Mat into a frame from `pool` with `format` (see [`copy_to_frame`]).
    pub fn to_frame(
        &self,
        format: PixelFormat,
        pool: &FramePool,
        label: &'static str,
    ) -> Result<Frame, CvError> {
        copy_to_frame(&self.mat, format, pool, label)
    }
}

/// Copies `src` into a frame acquired from `pool` (labelled `label`), as `format`.
///
/// `src` must be a 2-D `Mat` whose element type is the one of `format` (see
/// [`cv_type`]); the frame gets a packed layout of `src`'s size, which the pool's
/// buffers must be able to hold. The copy is one `copyTo` straight into the pooled
/// buffer. On error the acquired frame goes back to the pool.
pub fn copy_to_frame(
    src: &impl MatTraitConst,
    format: PixelFormat,
    pool: &FramePool,
    label: &'static str,
) -> Result<Frame, CvError> {
    let (rows, cols, typ) = (src.rows(), src.cols(), src.typ());
    if typ != cv_type(format) || format == PixelFormat::Mjpeg || format.is_planar_420() {
        return Err(CvError::MatMismatch(format!(
            "a Mat of type {typ} cannot be copied as {format}"
        )));
    }
    let width = usize::try_from(cols).map_err(|_| CvError::MatMismatch("negative cols".into()))?;
    let height = usize::try_from(rows).map_err(|_| CvError::MatMismatch("negative rows".into()))?;
    let layout = FrameLayout::packed(format, width, height)?;
    let mut frame = pool.acquire(label)?;
    if *frame.layout() != layout {
        frame.reshape(layout)?;
    }
    {
        let mut dst = MatViewMut::new(&mut frame)?;
        src.copy_to(&mut dst)?;
        dst.ensure_in_place("copy_to")?;
    }
    Ok(frame)
}

impl std::fmt::Debug for TrackedMat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedMat")
            .field("rows", &self.mat.rows())
            .field("cols", &self.mat.cols())
            .field("typ", &self.mat.typ())
            .field("ledger_id", &self.token.id())
            .finish()
    }
}

impl MatTraitConst for TrackedMat {
    fn as_raw_Mat(&self) -> *const c_void {
        self.mat.as_raw_Mat()
    }
}

impl MatTrait for TrackedMat {
    fn as_raw_mut_Mat(&mut self) -> *mut c_void {
        self.mat.as_raw_mut_Mat()
    }
}

impl ToInputArray for TrackedMat {
    fn input_array(&self) -> opencv::Result<BoxedRef<'_, _InputArray>> {
        self.mat.input_array()
    }
}

impl ToOutputArray for TrackedMat {
    fn output_array(&mut self) -> opencv::Result<BoxedRefMut<'_, _OutputArray>> {
        self.mat.output_array()
    }
}

impl ToInputOutputArray for TrackedMat {
    fn input_output_array(&mut self) -> opencv::Result<BoxedRefMut<'_, _InputOutputArray>> {
        self.mat.input_output_array()
    }
}
