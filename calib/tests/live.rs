//! Live view collection, fed by a stream of synthetic camera frames (rendered views
//! played through framekeep-cv's image-sequence source, as a camera would deliver
//! them): coverage-based selection keeps a subset, writes it, and that subset
//! calibrates the camera the frames were rendered with.

mod common;

use framekeep_calib::board::{Board, Pattern};
use framekeep_calib::detect::detect_all;
use framekeep_calib::input::view_name;
use framekeep_calib::live::{collect_views, LiveCamera, LiveOptions, LiveStop};
use framekeep_calib::mono::{calibrate, Flags};
use framekeep_calib::select::Selector;
use framekeep_calib::synth::{write_mono_set, Camera};
use framekeep_core::cancel::CancelToken;
use framekeep_core::ledger::LeakCheck;
use framekeep_cv::io::ImageSequence;

#[test]
fn live_frames_are_selected_by_coverage_and_calibrate_the_camera() {
    let check = LeakCheck::new();
    let frames_dir = common::scratch("live-frames");
    let views_dir = common::scratch("live-views");
    let cam = Camera::synthetic(640, 480);
    let board = Board::new(Pattern::Chessboard, 9, 6, 0.025).unwrap();
    let (paths, _) = write_mono_set(&frames_dir, &cam, &board, 24, 11).unwrap();
    // The same views twice over: a camera keeps seeing similar poses.
    let mut list: Vec<_> = paths.iter().chain(paths.iter()).cloned().collect();
    list.sort();
    let mut camera = LiveCamera::new("frames", ImageSequence::from_paths(list).unwrap());
    let opts = LiveOptions {
        board,
        views_dir: views_dir.clone(),
        max_frames: None,
        selector: Selector::default(),
    };
    let mut reports = 0;
    let outcome = collect_views(&mut camera, &CancelToken::new(), &opts, |p| {
        reports += 1;
        assert!(p.kept as u64 <= p.detected && p.detected <= p.frames);
    })
    .unwrap();
    drop(camera);
    assert_eq!(outcome.progress.frames, 48);
    assert_eq!(reports, 48, "one progress report per frame");
    assert!(matches!(
        outcome.stop,
        LiveStop::EndOfStream | LiveStop::Covered
    ));
    // Every frame shows the board; duplicates are never kept twice.
    assert!(outcome.progress.detected >= 44, "{:?}", outcome.progress);
    let kept = outcome.views.len();
    assert!((6..=24).contains(&kept), "kept {kept} views");
    assert!(
        outcome.progress.coverage.iter().all(|&c| c > 0.3),
        "{:?}",
        outcome.progress.coverage
    );
    for v in &outcome.views {
        assert!(v.starts_with(&views_dir) && v.exists(), "{}", v.display());
    }

    // The kept views calibrate the camera.
    let set = detect_all(&outcome.views, &board, 2, |_| {}).unwrap();
    let views: Vec<_> = set
        .found()
        .map(|(p, c)| (view_name(p), c.clone()))
        .collect();
    assert_eq!(views.len(), kept);
    let cal = calibrate(&board, set.image_size, &views, Flags::default(), None).unwrap();
    let k = cal.intrinsics.camera_matrix;
    for (got, want, what) in [
        (k[0][0], cam.fx, "fx"),
        (k[1][1], cam.fy, "fy"),
        (k[0][2], cam.cx, "cx"),
        (k[1][2], cam.cy, "cy"),
    ] {
        assert!(common::rel(got, want) < 0.01, "{what} {got} vs {want}");
    }
    drop((set, views, cal));
    std::fs::remove_dir_all(&frames_dir).unwrap();
    std::fs::remove_dir_all(&views_dir).unwrap();
    check
        .finish_within(std::time::Duration::from_secs(2))
        .expect("no frame, Mat or thread left alive");
}

#[test]
fn collection_stops_at_the_frame_limit_and_on_cancel() {
    let check = LeakCheck::new();
    let frames_dir = common::scratch("live-limit");
    let cam = Camera::synthetic(320, 240);
    let board = Board::new(Pattern::Chessboard, 7, 5, 0.02).unwrap();
    let (paths, _) = write_mono_set(&frames_dir, &cam, &board, 6, 3).unwrap();
    let opts = LiveOptions {
        board,
        views_dir: frames_dir.join("views"),
        max_frames: Some(3),
        selector: Selector::default(),
    };
    let mut camera = LiveCamera::new("frames", ImageSequence::from_paths(paths.clone()).unwrap());
    let out = collect_views(&mut camera, &CancelToken::new(), &opts, |_| {}).unwrap();
    assert_eq!((out.stop, out.progress.frames), (LiveStop::FrameLimit, 3));

    let token = CancelToken::new();
    token.cancel();
    let mut camera = LiveCamera::new("frames", ImageSequence::from_paths(paths).unwrap());
    let out = collect_views(&mut camera, &token, &opts, |_| {}).unwrap();
    assert_eq!((out.stop, out.progress.frames), (LiveStop::Cancelled, 0));
    drop(camera);
    std::fs::remove_dir_all(&frames_dir).unwrap();
    check
        .finish_within(std::time::Duration::from_secs(2))
        .expect("no leaks");
}

#[test]
fn calib_mono_with_a_missing_camera_is_a_clear_error_and_writes_nothing() {
    let dir = common::scratch("live-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let output = dir.join("camera.yml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_calib-mono"))
        .args(["--device", "/dev/video-not-there", "-b", "9x6", "-o"])
        .arg(&output)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("camera /dev/video-not-there"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!output.exists(), "no output on failure");
    // Without --device the image inputs are required.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_calib-mono"))
        .args(["-b", "9x6"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A camera delivering MJPEG: JPEG-encoded synthetic views, then (optionally) a broken one.
struct MjpegCamera {
    frames: Vec<Vec<u8>>,
    size: (usize, usize),
    next: usize,
}

impl framekeep_core::pipeline::Source for MjpegCamera {
    fn next_frame(
        &mut self,
        _token: &CancelToken,
    ) -> Result<Option<framekeep_core::frame::Frame>, framekeep_core::pipeline::StageError> {
        let Some(jpeg) = self.frames.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        let layout =
            framekeep_core::frame::FrameLayout::mjpeg(self.size.0, self.size.1, jpeg.len());
        framekeep_core::frame::Frame::from_vec(layout, jpeg.clone())
            .map(Some)
            .map_err(|e| framekeep_core::pipeline::StageError::failed(e.to_string()))
    }
}

#[test]
fn mjpeg_frames_are_decoded_and_selected() {
    let check = LeakCheck::new();
    let dir = common::scratch("live-mjpeg");
    let cam = Camera::synthetic(640, 480);
    let board = Board::new(Pattern::Chessboard, 9, 6, 0.025).unwrap();
    let (paths, _) = write_mono_set(&dir.join("frames"), &cam, &board, 6, 13).unwrap();
    let mut frames: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| {
            let img = image::open(p).unwrap().to_luma8();
            let mut jpeg = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95)
                .encode_image(&img)
                .unwrap();
            jpeg
        })
        .collect();
    let opts = LiveOptions {
        board,
        views_dir: dir.join("views"),
        max_frames: None,
        selector: Selector::default(),
    };
    let source = MjpegCamera {
        frames: frames.clone(),
        size: (640, 480),
        next: 0,
    };
    let mut camera = LiveCamera::new("mjpeg-cam", source);
    let out = collect_views(&mut camera, &CancelToken::new(), &opts, |_| {}).unwrap();
    drop(camera);
    assert_eq!(out.progress.frames, 6);
    assert!(out.progress.detected >= 5, "{:?}", out.progress);
    assert!(out.views.len() >= 4, "{:?}", out.progress);
    for v in &out.views {
        let img = image::open(v).unwrap();
        assert_eq!((img.width(), img.height()), (640, 480));
    }

    // A frame that is not the JPEG it claims to be, and one cut short, are skipped and
    // counted, never examined as a (half-gray) view.
    let cut = frames[2][..frames[2].len() / 2].to_vec();
    frames.insert(1, b"\xff\xd8 not really a jpeg".to_vec());
    frames.insert(3, cut);
    let source = MjpegCamera {
        frames,
        size: (640, 480),
        next: 0,
    };
    let mut camera = LiveCamera::new("mjpeg-cam", source);
    let out = collect_views(&mut camera, &CancelToken::new(), &opts, |_| {}).unwrap();
    assert_eq!(
        (out.progress.frames, out.progress.corrupt),
        (8, 2),
        "{:?}",
        out.progress
    );
    assert!(out.progress.detected >= 5, "{:?}", out.progress);
    drop(camera);
    std::fs::remove_dir_all(&dir).unwrap();
    check
        .finish_within(std::time::Duration::from_secs(2))
        .expect("no leaks");
}
