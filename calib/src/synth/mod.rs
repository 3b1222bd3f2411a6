//! Synthetic ground truth: calibration views rendered through a known camera.
//!
//! Testing a calibration against images of unknown cameras proves nothing; rendering a
//! board through a camera whose intrinsics and distortion we chose does. The renderer works
//! by inverse mapping, so the distortion in the images is real, not an approximation: every
//! output pixel's corners are undistorted once per camera with OpenCV's
//! `undistortPointsIter` (to normalized image coordinates), each pixel is supersampled by
//! interpolating those, and each sample is intersected with the board plane through the
//! board's homography and shaded by the board pattern. Poses are random (seeded) but
//! stratified over the image so the views cover it, and always keep the whole board (with
//! its white margin) inside the frame.
//!
//! * `camera`: the camera model, poses and the small linear algebra they need.
//! * `render`: the inverse-mapping renderer.
//! * `sets`: covering poses, the stereo rig, and writing view sets to disk.

mod camera;
mod render;
mod sets;

pub use camera::*;
pub use render::*;
pub use sets::*;
