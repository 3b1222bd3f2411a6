//! Issue 11, finding 2, at the converters: a size that memory cannot hold (100000x100000
//! BGR: 30 GB a frame) is a typed pool error naming the sizes, from every way a
//! converter is made (up front, or from a frame's announced size), never an abort.

use framekeep_core::frame::{Frame, FrameLayout};
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pool::PoolError;
use framekeep_cv::convert::{BgrConverter, SizedBgrConverter};
use framekeep_cv::CvError;

fn too_large(result: Result<impl std::fmt::Debug, CvError>, what: &str) {
    match result {
        Err(CvError::Pool(PoolError::TooLarge { buffer_bytes, .. })) => {
            assert_eq!(buffer_bytes, 30_000_000_000, "{what}")
        }
        other => panic!("{what}: expected a pool ceiling error, got {other:?}"),
    }
}

#[test]
fn converters_of_sizes_too_large_for_memory_are_typed_errors() {
    let check = LeakCheck::new();
    too_large(
        BgrConverter::with_size(100_000, 100_000, 4),
        "BgrConverter::with_size",
    );
    too_large(
        SizedBgrConverter::with_size(100_000, 100_000, 4, "test"),
        "SizedBgrConverter::with_size",
    );
    // A frame that announces the size (an MJPEG frame's header says nothing until decoded).
    let frame = Frame::from_vec(
        FrameLayout::mjpeg(100_000, 100_000, 4),
        vec![0xFF, 0xD8, 0xFF, 0xD9],
    )
    .unwrap();
    let mut sized = SizedBgrConverter::new(4, "test");
    too_large(sized.convert(&frame), "SizedBgrConverter::convert");
    check.finish().unwrap();
}
