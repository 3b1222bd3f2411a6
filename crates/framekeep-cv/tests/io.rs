//! Image sequences, snapshots and video files, through real files, with leak checks.

use std::path::PathBuf;
use std::time::Duration;

use framekeep_core::cancel::CancelToken;
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pipeline::{Link, PipelineBuilder};
use framekeep_cv::io::{ImageFormat, ImageSequence, ImageSink, SnapshotTrigger, VideoFileSource};
use framekeep_cv::mat::TrackedMat;
use framekeep_cv::CvError;
use opencv::core::{Scalar, Size, Vector, CV_8UC3};
use opencv::imgcodecs::{imread, imwrite, IMREAD_COLOR};
use opencv::prelude::*;
use opencv::videoio::VideoWriter;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("framekeep-cv-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const COLOURS: [(f64, f64, f64); 3] = [(255.0, 0.0, 0.0), (0.0, 255.0, 0.0), (10.0, 20.0, 30.0)];

fn write_images(dir: &TempDir, w: i32, h: i32) -> Vec<PathBuf> {
    COLOURS
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let m =
                TrackedMat::filled(h, w, CV_8UC3, Scalar::new(c.0, c.1, c.2, 0.0), "test").unwrap();
            let path = dir.0.join(format!("img_{i:02}.png"));
            assert!(imwrite(&path, &m, &Vector::new()).unwrap());
            path
        })
        .collect()
}

#[test]
fn image_sequences_from_a_dir_a_glob_and_a_list() {
    let check = LeakCheck::new();
    let dir = TempDir::new("seq");
    let paths = write_images(&dir, 40, 30);
    std::fs::write(dir.0.join("notes.md"), "not an image").unwrap();
    std::fs::write(
        dir.0.join("list.txt"),
        "# reversed\nimg_02.png\n\nimg_00.png\n",
    )
    .unwrap();
    let token = CancelToken::new();

    let mut seq = ImageSequence::open(dir.0.to_str().unwrap()).unwrap();
    assert_eq!(seq.paths(), &paths[..]);
    for (i, c) in COLOURS.iter().enumerate() {
        let f = seq.read_next(&token).unwrap().unwrap();
        assert_eq!((f.width(), f.height(), f.sequence()), (40, 30, i as u64));
        assert_eq!(
            &f.row(29).unwrap()[117..120],
            &[c.0 as u8, c.1 as u8, c.2 as u8]
        );
    }
    assert!(seq.read_next(&token).unwrap().is_none());

    let glob = format!("{}/img_0?.png", dir.0.display());
    assert_eq!(ImageSequence::open(&glob).unwrap().paths().len(), 3);
    let list = ImageSequence::open(dir.0.join("list.txt").to_str().unwrap()).unwrap();
    assert_eq!(list.paths(), &[paths[2].clone(), paths[0].clone()]);
    assert!(matches!(
        ImageSequence::open(&format!("{}/*.gif", dir.0.display())),
        Err(CvError::File { .. })
    ));

    // Resized to a fixed size, looping.
    let mut seq = ImageSequence::from_dir(&dir.0)
        .unwrap()
        .size(20, 10)
        .looping(true);
    for _ in 0..5 {
        let f = seq.read_next(&token).unwrap().unwrap();
        assert_eq!((f.width(), f.height()), (20, 10));
    }
    // A file that is not an image is a typed error, not a panic.
    let mut bad = ImageSequence::from_paths(vec![dir.0.join("notes.md")]).unwrap();
    assert!(matches!(bad.read_next(&token), Err(CvError::File { .. })));
    // As a pipeline source it fails with that same typed error, not its text.
    let mut bad = ImageSequence::from_paths(vec![dir.0.join("notes.md")]).unwrap();
    match framekeep_core::pipeline::Source::next_frame(&mut bad, &token) {
        Err(framekeep_core::pipeline::StageError::Failed(e)) => assert!(
            matches!(e.downcast_ref::<CvError>(), Some(CvError::File { .. })),
            "{e:?}"
        ),
        other => panic!("expected a failed stage, got {other:?}"),
    }
    // A directory that cannot be read keeps the system's error as its cause.
    match ImageSequence::from_dir(dir.0.join("missing")) {
        Err(CvError::Io { path, source }) => {
            assert_eq!(path, dir.0.join("missing"));
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    drop((seq, bad));
    check.finish().unwrap();
}

#[test]
fn images_to_snapshots_through_a_pipeline() {
    let check = LeakCheck::new();
    let input = TempDir::new("pipe-in");
    let output = TempDir::new("pipe-out");
    write_images(&input, 32, 24);
    let sink = ImageSink::new(&output.0)
        .unwrap()
        .every(Some(2))
        .prefix("snap");
    let written = sink.written();
    let pipeline = PipelineBuilder::new("snapshots")
        .source("images", ImageSequence::from_dir(&input.0).unwrap())
        .sink("png", Link::block(2), sink)
        .start()
        .unwrap();
    assert!(pipeline.wait(Duration::from_secs(20)));
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    let files = written.lock().clone();
    assert_eq!(files.len(), 2, "frames 0 and 2 of 3: {files:?}");
    assert!(files[1].ends_with("snap_000002.png"));
    let back = imread(&files[1], IMREAD_COLOR).unwrap();
    assert_eq!(
        back.at_2d::<opencv::core::Vec3b>(5, 5).unwrap().0,
        [10, 20, 30]
    );
    check.finish_within(Duration::from_secs(5)).unwrap();
}

#[test]
fn snapshots_on_a_trigger_as_jpeg() {
    let check = LeakCheck::new();
    let output = TempDir::new("trigger");
    let trigger = SnapshotTrigger::new();
    let mut sink = ImageSink::new(&output.0)
        .unwrap()
        .every(None)
        .with_trigger(&trigger)
        .format(ImageFormat::Jpeg(90));
    let source = framekeep_core::pipeline::SyntheticSource::builder(
        framekeep_core::frame::PixelFormat::Yuyv,
        64,
        48,
    )
    .build()
    .unwrap();
    let pool = source.pool().clone();
    use framekeep_core::pipeline::Sink;
    let mut frames = Vec::new();
    for i in 0..4u64 {
        let mut f = pool.acquire("test").unwrap();
        f.set_meta(framekeep_core::frame::FrameMeta {
            sequence: i,
            timestamp: Duration::ZERO,
        });
        frames.push(f);
    }
    sink.consume(&frames[0]).unwrap();
    trigger.fire();
    sink.consume(&frames[1]).unwrap();
    sink.consume(&frames[2]).unwrap();
    let files = sink.written().lock().clone();
    assert_eq!(files.len(), 1);
    assert!(files[0].ends_with("frame_000001.jpg"), "{files:?}");
    assert_eq!(imread(&files[0], IMREAD_COLOR).unwrap().cols(), 64);
    drop((frames, sink, source));
    check.finish().unwrap();
}

#[test]
fn video_files_written_by_videowriter_read_back() {
    let check = LeakCheck::new();
    let dir = TempDir::new("video");
    let path = dir.0.join("clip.avi");
    let fourcc = VideoWriter::fourcc('M', 'J', 'P', 'G').unwrap();
    let mut writer = VideoWriter::new(&path, fourcc, 25.0, Size::new(64, 48), true).unwrap();
    assert!(
        writer.is_opened().unwrap(),
        "Debian's OpenCV writes MJPG in AVI"
    );
    for i in 0..10 {
        let v = f64::from(i * 20);
        let m = TrackedMat::filled(48, 64, CV_8UC3, Scalar::new(v, 128.0, 255.0 - v, 0.0), "w")
            .unwrap();
        writer.write(&m).unwrap();
    }
    writer.release().unwrap();
    drop(writer);

    let token = CancelToken::new();
    let mut source = VideoFileSource::open(&path).unwrap();
    let mut n = 0;
    while let Some(frame) = source.read_next(&token).unwrap() {
        assert_eq!(
            (frame.width(), frame.height(), frame.sequence()),
            (64, 48, n)
        );
        let px = &frame.row(24).unwrap()[96..99];
        let want = [n as i32 * 20, 128, 255 - n as i32 * 20];
        for (got, want) in px.iter().zip(want) {
            assert!(
                (i32::from(*got) - want).abs() <= 12,
                "frame {n}: {px:?} vs {want:?}"
            );
        }
        assert!(frame.shares_buffer_with(&frame.clone()));
        n += 1;
    }
    assert_eq!(n, 10);
    assert_eq!(source.pool().stats().checked_out, 0);
    assert!(matches!(
        VideoFileSource::open(dir.0.join("missing.avi")),
        Err(CvError::File { .. }) | Err(CvError::OpenCv(_))
    ));
    drop(source);
    check.finish().unwrap();
}
