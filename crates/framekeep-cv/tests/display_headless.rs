//! The display without any display: a typed error by default, null and recording
//! stand-ins by option. Never a Qt abort.

use std::sync::Once;
use std::time::Duration;

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::PixelFormat;
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pipeline::{Link, PipelineBuilder, SyntheticSource};
use framekeep_core::testing::decode_counter;
use framekeep_cv::display::{DetectError, Display, DisplayClosed, DisplayOptions, Headless};
use framekeep_cv::CvError;

fn no_display() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for var in ["DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"] {
            std::env::remove_var(var);
        }
    });
}

#[test]
fn without_a_display_open_fails_with_a_clear_error() {
    no_display();
    let check = LeakCheck::new();
    match Display::open(DisplayOptions::new()) {
        Err(CvError::NoDisplay(why)) => assert!(why.to_string().contains("DISPLAY"), "{why}"),
        other => panic!("expected NoDisplay, got {other:?}"),
    }
    std::env::set_var("DISPLAY", ":4711"); // nothing listens there
    let err = Display::open(DisplayOptions::new()).unwrap_err();
    std::env::remove_var("DISPLAY");
    // "no display", then why: the detection error names the display.
    assert_eq!(err.to_string(), "no display");
    let why = std::error::Error::source(&err).expect("the detection error");
    assert!(why.to_string().contains(":4711"), "{why}");
    // The connection's own error is kept as the cause, for `{:#}` and anyhow reports.
    assert!(
        matches!(err, CvError::NoDisplay(DetectError::Unreachable { .. })),
        "{err:?}"
    );
    let cause = why.source().expect("the connection error is kept");
    assert!(
        cause.downcast_ref::<std::io::Error>().is_some(),
        "{cause:?}"
    );
    check.finish().unwrap();
}

#[test]
fn null_and_recording_stand_ins_consume_the_stream() {
    no_display();
    let check = LeakCheck::new();
    for policy in [Headless::Null, Headless::Record] {
        let root = CancelToken::new();
        let display = Display::open(
            DisplayOptions::new()
                .with_cancel(&root)
                .with_release()
                .headless(policy),
        )
        .unwrap();
        assert!(!display.is_visible());
        let window = display.window("headless").unwrap();
        assert!(
            display.window("headless").is_err(),
            "duplicate names are refused"
        );
        let stats = window.stats();
        let opts = window.sink_options();
        let source = SyntheticSource::builder(PixelFormat::Yuyv, 64, 48)
            .frames(20)
            .build()
            .unwrap();
        let pipeline = PipelineBuilder::new("headless")
            .with_cancel(&root)
            .source("pattern", source)
            .sink_with("display", Link::block(2), window, opts)
            .start()
            .unwrap();
        assert!(pipeline.wait(Duration::from_secs(20)));
        assert!(pipeline.shutdown().is_clean());
        let snap = stats.snapshot();
        assert_eq!((snap.received, snap.last_sequence), (20, 19));
        if policy == Headless::Record {
            let last = stats.recorded().expect("the last frame is kept");
            assert_eq!(last.format(), PixelFormat::Bgr24, "converted for display");
            assert_eq!(decode_counter(&last), Some(19));
        } else {
            assert!(stats.recorded().is_none());
        }
        let report = display.close();
        assert_eq!(report.reason, DisplayClosed::Shutdown);
        assert!(
            stats.recorded().is_none(),
            "close releases the recorded frame"
        );
    }
    check.finish_within(Duration::from_secs(5)).unwrap();
}
