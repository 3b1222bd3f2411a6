//! The display sink end to end on Qt's offscreen platform: the real GUI thread and
//! highgui calls, no X server needed. Every test ends with a leak check.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::PixelFormat;
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pipeline::{edge, Link, Pipeline, PipelineBuilder, SyntheticSource};
use framekeep_core::supervisor::Supervisor;
use framekeep_cv::display::{Display, DisplayClosed, DisplayOptions, DisplayWindow, Headless};

/// Puts Qt on its offscreen platform and starts the test's leak check.
fn offscreen_check() -> LeakCheck {
    static ONCE: Once = Once::new();
    // Before the first display of this process: Qt reads it once, at start-up.
    ONCE.call_once(|| std::env::set_var("QT_QPA_PLATFORM", "offscreen"));
    LeakCheck::new()
}

/// Starts `source` → `window` (through a latest-frame edge) as pipeline `name` under `root`.
fn start_pattern(
    name: &str,
    root: &CancelToken,
    source: SyntheticSource,
    window: DisplayWindow,
) -> Pipeline {
    let opts = window.sink_options();
    PipelineBuilder::new(name)
        .with_cancel(root)
        .source("pattern", source)
        .sink_with("display", Link::latest(), window, opts)
        .start()
        .unwrap()
}

const BOUND: Duration = Duration::from_secs(20);

#[test]
fn a_pipeline_shows_every_format_and_shuts_down_clean() {
    let check = offscreen_check();
    for format in [
        PixelFormat::Yuyv,
        PixelFormat::Bgr24,
        PixelFormat::Nv12,
        PixelFormat::Gray8,
        PixelFormat::Bgra32,
        PixelFormat::Uyvy,
        PixelFormat::Rgb24,
        PixelFormat::I420,
    ] {
        let root = CancelToken::new();
        let closes = Arc::new(AtomicUsize::new(0));
        let counted = closes.clone();
        let display = Display::open(
            DisplayOptions::new()
                .with_cancel(&root)
                .with_release()
                .overlay(true)
                .headless(Headless::Offscreen)
                .with_on_close(move |_| {
                    counted.fetch_add(1, Ordering::SeqCst);
                }),
        )
        .unwrap();
        assert!(display.is_visible());
        let window = display.window(&format!("offscreen-{format}")).unwrap();
        let stats = window.stats();
        let source = SyntheticSource::builder(format, 320, 240)
            .frames(60)
            .fps(300.0)
            .build()
            .unwrap();
        let pipeline = start_pattern("display-test", &root, source, window);
        assert!(pipeline.wait(BOUND), "pipeline finished");
        // Let the GUI thread draw the last frame.
        let deadline = Instant::now() + BOUND;
        while stats.snapshot().shown + stats.snapshot().dropped < stats.snapshot().received
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let report = pipeline.shutdown();
        assert!(report.is_clean(), "{report}");
        let snap = stats.snapshot();
        assert!(snap.received > 0 && snap.shown > 0, "{snap:?}");
        assert_eq!(snap.shown + snap.dropped, snap.received, "{snap:?}");
        let closed = display.close();
        assert!(closed.is_clean(), "{closed}");
        assert_eq!(closed.reason, DisplayClosed::Shutdown);
        assert_eq!(closes.load(Ordering::SeqCst), 1);
    }
    check.finish_within(Duration::from_secs(5)).unwrap();
}

#[test]
fn cancelling_the_token_closes_the_windows() {
    let check = offscreen_check();
    let root = CancelToken::new();
    let display = Display::open(
        DisplayOptions::new()
            .with_cancel(&root)
            .headless(Headless::Offscreen),
    )
    .unwrap();
    let window = display.window("cancel-me").unwrap();
    let source = SyntheticSource::builder(PixelFormat::Bgr24, 160, 120)
        .fps(100.0)
        .build()
        .unwrap();
    let pipeline = start_pattern("cancel-test", &root, source, window);
    std::thread::sleep(Duration::from_millis(200));
    root.cancel();
    assert!(display.wait_closed(BOUND));
    assert_eq!(display.closed(), Some(DisplayClosed::Cancelled));
    assert!(pipeline.wait(BOUND));
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    assert!(display.close().is_clean());
    check.finish_within(Duration::from_secs(5)).unwrap();
}

#[test]
fn several_windows_fed_from_several_edges() {
    let check = offscreen_check();
    let root = CancelToken::new();
    let display = Display::open(
        DisplayOptions::new()
            .with_cancel(&root)
            .with_release()
            .headless(Headless::Offscreen),
    )
    .unwrap();
    let supervisor = Supervisor::new(&root);
    let mut senders = Vec::new();
    for name in ["left", "right"] {
        let (tx, rx) = edge("to-display", Link::latest());
        display.attach(name, rx, &supervisor).unwrap();
        senders.push(tx);
    }
    let source = SyntheticSource::builder(PixelFormat::Bgr24, 64, 48)
        .frames(30)
        .build()
        .unwrap();
    let pool = source.pool().clone();
    for i in 0..30u64 {
        let mut f = pool.acquire("test").unwrap();
        f.set_meta(framekeep_core::frame::FrameMeta {
            sequence: i,
            timestamp: Duration::ZERO,
        });
        for tx in &senders {
            tx.send(f.clone()).unwrap();
        }
        drop(f);
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(senders); // end of both streams
    assert!(supervisor.wait(BOUND));
    let report = supervisor.shutdown();
    assert!(report.to_string().contains("left"), "{report}");
    let closed = display.close();
    assert_eq!(closed.windows.len(), 2);
    for (_, snap) in &closed.windows {
        assert!(snap.received > 0 && snap.last_sequence == 29, "{closed}");
    }
    assert_eq!(pool.stats().checked_out, 0);
    drop(source);
    check.finish_within(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_stuck_gui_does_not_hang_close() {
    let check = offscreen_check();
    let display = Display::open(
        DisplayOptions::new()
            .headless(Headless::Offscreen)
            .close_timeout(Duration::from_millis(100))
            // Runs on the GUI thread during close: a GUI that does not answer in time.
            .with_on_close(|_| std::thread::sleep(Duration::from_millis(800))),
    )
    .unwrap();
    let started = Instant::now();
    let report = display.close();
    assert!(report.gui_hung, "{report}");
    assert!(!report.is_clean());
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    check.finish_within(Duration::from_secs(5)).unwrap();
}

/// A display that cannot keep up drops frames at its slot instead of holding them: a
/// producer with a 3-buffer fail-fast pool (one in the slot, one being drawn, one being
/// filled) never runs dry, however fast it goes.
#[test]
fn a_slow_display_never_backs_up_the_producer() {
    use framekeep_core::frame::{FrameLayout, FrameMeta};
    use framekeep_core::pipeline::Sink;
    use framekeep_core::pool::{Exhausted, PoolOptions};

    let check = offscreen_check();
    let display = Display::open(
        DisplayOptions::new()
            .overlay(true)
            .headless(Headless::Offscreen),
    )
    .unwrap();
    let mut window = display.window("slow").unwrap();
    let stats = window.stats();
    let layout = FrameLayout::packed(PixelFormat::Bgr24, 640, 480).unwrap();
    let pool = PoolOptions::new(layout)
        .min_buffers(3)
        .max_buffers(3)
        .exhausted(Exhausted::FailFast)
        .build()
        .unwrap();
    for i in 0..300u64 {
        let mut frame = pool
            .try_acquire("producer")
            .expect("the display never holds more than 2");
        frame.set_meta(FrameMeta {
            sequence: i,
            timestamp: Duration::ZERO,
        });
        window.consume(&frame).unwrap();
    }
    let snap = stats.snapshot();
    assert_eq!(snap.received, 300);
    assert!(snap.dropped > 0, "the producer outran the GUI: {snap:?}");
    drop(window);
    let report = display.close();
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        pool.stats().checked_out,
        0,
        "close released the frames it held"
    );
    check.finish_within(Duration::from_secs(5)).unwrap();
}
