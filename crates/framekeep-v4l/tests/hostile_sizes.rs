//! Issue 11, finding 2, at capture negotiation: a driver that grants a frame size memory
//! cannot hold (40000x40000 YUYV: 3.2 GB a frame, 26 GB for the copy pool) is refused with a typed error when the
//! stream starts, before a buffer is mapped or a copy pool allocated, instead of an abort
//! ("memory allocation of ... bytes failed") later.

use framekeep_core::ledger::LeakCheck;
use framekeep_core::pool::PoolError;
use framekeep_v4l::testing::{FakeConfig, FakeDevice};
use framekeep_v4l::{
    CaptureError, CaptureStream, FormatInfo, FormatRequest, FourCc, Interval, SizeInfo,
    StreamOptions,
};

fn huge(fourcc: FourCc, multiplanar: bool) -> FakeDevice {
    let mut config = if multiplanar {
        FakeConfig::multiplanar()
    } else {
        FakeConfig::default()
    };
    config.formats = vec![FormatInfo {
        fourcc,
        description: "huge".into(),
        sizes: vec![SizeInfo {
            width: 40_000,
            height: 40_000,
            intervals: vec![Interval::from_fps(30)],
        }],
    }];
    FakeDevice::new(config)
}

#[test]
fn a_granted_size_too_large_for_memory_is_a_typed_error_at_start() {
    let check = LeakCheck::new();
    for (fourcc, multiplanar) in [(FourCc::YUYV, false), (FourCc::NV12M, true)] {
        let device = huge(fourcc, multiplanar);
        let options = StreamOptions::new().format(FormatRequest::new(fourcc, 40_000, 40_000));
        match CaptureStream::start(Box::new(device.clone()), options) {
            Err(CaptureError::Pool(PoolError::TooLarge { buffer_bytes, .. })) => {
                assert!(buffer_bytes >= 2_400_000_000, "{fourcc}: {buffer_bytes}")
            }
            Err(e) => panic!("{fourcc}: expected a pool ceiling error, got {e}"),
            Ok(s) => panic!("{fourcc}: a 40000x40000 stream started: {s:?}"),
        }
        assert_eq!(
            device.buffers_allocated(),
            0,
            "{fourcc}: no buffer was mapped"
        );
    }
    check.finish().unwrap();
}
