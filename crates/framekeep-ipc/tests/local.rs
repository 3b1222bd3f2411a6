//! Publisher and subscribers in one process: the frame contract (read-only, refcounted,
//! views, copy-on-write into a local pool, last drop returns the sample), loaned frames,
//! back-pressure policies and their typed refusals, cancellation, the hold limit, the
//! hold report and the ledger. Every test ends with a leak check and leaves no file.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, FrameLayout, FrameMeta, PixelFormat};
use framekeep_core::ledger::{Kind, LeakCheck, Ledger};
use framekeep_core::pipeline::{Link, PipelineBuilder, Source};
use framekeep_ipc::testing::TestDomain;
use framekeep_ipc::{
    Delivery, Domain, IpcError, Publisher, PublisherOptions, Subscriber, SubscriberOptions,
};

const SECOND: Duration = Duration::from_secs(1);

fn layout(format: PixelFormat, w: usize, h: usize) -> FrameLayout {
    FrameLayout::packed(format, w, h).unwrap()
}

/// A frame whose bytes depend on `seq`.
fn frame(layout: FrameLayout, seq: u64) -> Frame {
    let data: Vec<u8> = (0..layout.len())
        .map(|i| (i as u64).wrapping_mul(31).wrapping_add(seq) as u8)
        .collect();
    let mut f = Frame::from_vec(layout, data).unwrap();
    f.set_meta(FrameMeta {
        sequence: seq,
        timestamp: Duration::from_millis(1000 + seq),
    });
    f
}

fn recv(sub: &mut Subscriber) -> Frame {
    let token = CancelToken::new().child_with_timeout(5 * SECOND);
    sub.recv(&token).expect("a frame within 5 s")
}

#[test]
fn frames_arrive_as_read_only_refcounted_frames_over_the_sample() {
    let check = LeakCheck::new();
    let domain = TestDomain::new("contract").unwrap();
    let ledger = Ledger::new();
    let publisher = Publisher::create(&domain, "cam/a", PublisherOptions::new()).unwrap();
    let mut sub = Subscriber::connect(
        &domain,
        "cam/a",
        SubscriberOptions::new(Link::drop_oldest(4))
            .name("viewer")
            .with_ledger(&ledger),
    )
    .unwrap();
    assert!(sub.is_attached());
    let l = layout(PixelFormat::Bgr24, 64, 48);
    let sent = frame(l, 7);
    let published = publisher.publish(&sent).unwrap();
    assert_eq!(published.delivered, Some(1));
    assert!(!published.zero_copy);

    let mut got = recv(&mut sub);
    assert_eq!(got.layout(), &l);
    assert_eq!(got.data(), sent.data());
    assert_eq!(got.meta(), sent.meta());
    assert!(
        !got.is_writable(),
        "a received sample is never writable in place"
    );
    assert!(got.get_mut().is_none());
    let info = sub.last_info().unwrap();
    assert_eq!(info.publish_seq, 0);
    assert!(info.received_at >= info.published_at);

    // Held: in the subscriber's ledger under the service's name, and in the publisher's
    // report (sent at most every 50 ms while frames flow; `try_recv` sends it now).
    assert!(sub.try_recv().unwrap().is_none());
    let held = ledger.live();
    assert_eq!(held.len(), 1);
    assert_eq!(
        (held[0].kind, held[0].name.as_ref()),
        (Kind::FRAME, "cam/a")
    );
    let reports = publisher.subscribers();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].name, "viewer");
    assert_eq!(reports[0].policy, Some(Link::drop_oldest(4)));
    assert_eq!((reports[0].held, reports[0].received), (1, 1));
    assert!(reports[0].oldest_held.is_some());
    assert_eq!(reports[0].pid, Some(std::process::id()));

    // Views share the sample and keep it alive; the last drop, on another thread, gives
    // it back.
    let view = got.roi(8, 4, 16, 8).unwrap();
    assert!(view.shares_buffer_with(&got));
    let copy = {
        let mut c = got.clone();
        c.make_mut().unwrap()[0] ^= 0xff; // copy-on-write into the local pool
        c
    };
    assert!(!copy.shares_buffer_with(&got));
    assert_eq!(copy.data()[1..], got.data()[1..]);
    assert_eq!(
        ledger
            .live()
            .iter()
            .filter(|e| e.name == "ipc copy")
            .count(),
        1,
        "the copy is a lease of the subscriber's copy pool"
    );
    drop(got);
    assert_eq!(
        ledger.count(Kind::FRAME),
        2,
        "the view still holds the sample"
    );
    thread::spawn(move || drop(view)).join().unwrap();
    drop(copy);
    assert!(ledger.live().is_empty(), "{}", ledger.report());
    assert_eq!(sub.stats().held, 0);
    // The subscriber reports releases from its own thread, at its next receive attempt.
    assert!(sub.try_recv().unwrap().is_none());
    assert_eq!(publisher.subscribers()[0].held, 0);
    drop(sub);
    drop(publisher);
    check.finish().unwrap();
    assert!(domain
        .shm_files()
        .iter()
        .all(|f| f.to_string_lossy().ends_with("global_mgmt")));
}

#[test]
fn views_are_published_packed_and_formats_change_between_frames() {
    let check = LeakCheck::new();
    let domain = TestDomain::new("views").unwrap();
    let publisher = Publisher::create(&domain, "cam/b", PublisherOptions::new()).unwrap();
    let mut sub = Subscriber::connect(
        &domain,
        "cam/b",
        SubscriberOptions::new(Link::drop_oldest(4)),
    )
    .unwrap();
    let small = frame(layout(PixelFormat::Yuyv, 64, 32), 1);
    publisher.publish(&small).unwrap();
    let held_small = recv(&mut sub);
    // A larger format replaces the segment; the held frame keeps its layout and bytes.
    let big = frame(layout(PixelFormat::Bgr24, 320, 240), 2);
    publisher.publish(&big).unwrap();
    let got_big = recv(&mut sub);
    assert_eq!(got_big.layout(), big.layout());
    assert_eq!(got_big.data(), big.data());
    assert_eq!(held_small.layout(), small.layout());
    assert_eq!(held_small.data(), small.data());
    assert_eq!(publisher.stats().resizes, 1);
    // A region of interest goes out packed.
    let roi = big.roi(10, 20, 30, 40).unwrap();
    publisher.publish(&roi).unwrap();
    let got_roi = recv(&mut sub);
    assert_eq!(got_roi.layout(), &layout(PixelFormat::Bgr24, 30, 40));
    for y in 0..40 {
        assert_eq!(got_roi.row(y).unwrap(), roi.row(y).unwrap());
    }
    assert_eq!(sub.stats().dropped, 0);
    drop((held_small, got_big, got_roi, sub, publisher));
    check.finish().unwrap();
}

#[test]
fn loaned_frames_are_sent_without_a_copy_when_their_last_handle_drops() {
    let check = LeakCheck::new();
    let domain = TestDomain::new("loans").unwrap();
    let ledger = Ledger::new();
    let publisher = Publisher::create(
        &domain,
        "cam/c",
        PublisherOptions::new().max_loans(2).with_ledger(&ledger),
    )
    .unwrap();
    let mut sub = Subscriber::connect(
        &domain,
        "cam/c",
        SubscriberOptions::new(Link::drop_oldest(4)),
    )
    .unwrap();
    let l = layout(PixelFormat::Gray8, 64, 64);
    let mut loan = publisher
        .loan_frame(l.len())
        .unwrap()
        .expect("a free sample");
    assert!(loan.is_unique() && loan.is_writable());
    assert_eq!(
        loan.as_ptr() as usize % 4096,
        0,
        "payloads are page-aligned"
    );
    loan.reshape(l).unwrap();
    loan.get_mut().unwrap().fill(0x5a);
    loan.set_meta(FrameMeta {
        sequence: 42,
        timestamp: Duration::from_millis(5),
    });
    assert_eq!(ledger.live()[0].name, "cam/c (loan)");

    // Published while another handle exists: sent when the last one drops.
    let other = loan.clone();
    let published = publisher.publish(&loan).unwrap();
    assert_eq!((published.delivered, published.zero_copy), (None, true));
    assert!(matches!(
        publisher.publish(&other),
        Err(IpcError::AlreadyPublished { .. })
    ));
    drop(loan);
    let token = CancelToken::new();
    assert!(
        sub.try_recv().unwrap().is_none(),
        "not sent while a handle remains"
    );
    drop(other);
    let got = sub.recv(&token.child_with_timeout(5 * SECOND)).unwrap();
    assert_eq!(got.layout(), &l);
    assert!(got.data().iter().all(|&b| b == 0x5a));
    assert_eq!(got.sequence(), 42);
    let stats = publisher.stats();
    assert_eq!((stats.zero_copy, stats.copied, stats.published), (1, 0, 1));

    // Loans are bounded; an unpublished loan goes back unsent.
    let a = publisher.loan_frame(100).unwrap().unwrap();
    let b = publisher.loan_frame(100).unwrap().unwrap();
    assert_eq!(ledger.count(Kind::FRAME), 2);
    // A view of a loan is copied, not sent as the loan.
    let mut c = a.clone();
    c.reshape(FrameLayout::packed(PixelFormat::Gray8, 10, 10).unwrap())
        .unwrap_err(); // shared
    drop(c);
    drop((a, b));
    assert!(ledger.live().is_empty(), "{}", ledger.report());
    assert!(
        sub.try_recv().unwrap().is_none(),
        "unpublished loans are not sent"
    );
    drop((got, sub, publisher));
    check.finish().unwrap();
}

#[test]
fn latest_and_drop_oldest_count_their_drops() {
    let check = LeakCheck::new();
    let domain = TestDomain::new("lossy").unwrap();
    let publisher = Publisher::create(&domain, "cam/d", PublisherOptions::new()).unwrap();
    let mut latest = Subscriber::connect(
        &domain,
        "cam/d",
        SubscriberOptions::new(Link::latest()).name("latest"),
    )
    .unwrap();
    let mut oldest = Subscriber::connect(
        &domain,
        "cam/d",
        SubscriberOptions::new(Link::drop_oldest(3)).name("d3"),
    )
    .unwrap();
    let l = layout(PixelFormat::Gray8, 16, 16);
    for seq in 0..10 {
        publisher.publish(&frame(l, seq)).unwrap();
    }
    let got = recv(&mut latest);
    assert_eq!(got.sequence(), 9);
    assert!(latest.try_recv().unwrap().is_none());
    let seqs: Vec<u64> = (0..3).map(|_| recv(&mut oldest).sequence()).collect();
    assert_eq!(seqs, [7, 8, 9]);
    // The first frame a subscriber gets sets its baseline; gaps after it are drops.
    publisher.publish(&frame(l, 10)).unwrap();
    for _ in 0..3 {
        publisher.publish(&frame(l, 11)).unwrap();
    }
    drop(got);
    assert_eq!(recv(&mut latest).sequence(), 11);
    assert_eq!(latest.stats().dropped, 3);
    assert_eq!(latest.stats().received, 2);
    drop((latest, oldest, publisher));
    check.finish().unwrap();
}

#[test]
fn a_blocking_service_waits_for_block_subscribers_and_drops_for_the_others() {
    let check = LeakCheck::new();
    let domain = TestDomain::new("blocking").unwrap();
    let l = layout(PixelFormat::Gray8, 16, 16);
    let publisher = Publisher::create(
        &domain,
        "cam/e",
        PublisherOptions::new()
            .delivery(Delivery::blocking(2 * SECOND))
            .initial_layout(l),
    )
    .unwrap();
    let mut blocker = Subscriber::connect(
        &domain,
        "cam/e",
        SubscriberOptions::new(Link::block(1)).name("recorder"),
    )
    .unwrap();
    let mut newest = Subscriber::connect(
        &domain,
        "cam/e",
        SubscriberOptions::new(Link::drop_newest(1)).name("viewer"),
    )
    .unwrap();
    publisher.publish(&frame(l, 0)).unwrap();
    // Both queues are full now: the next send waits for the recorder, drops for the viewer.
    let reader = thread::spawn(move || {
        thread::sleep(Duration::from_millis(200));
        let token = CancelToken::new().child_with_timeout(5 * SECOND);
        let seqs: Vec<u64> = (0..2)
            .map(|_| blocker.recv(&token).unwrap().sequence())
            .collect();
        (blocker, seqs)
    });
    let t = Instant::now();
    let published = publisher.publish(&frame(l, 1)).unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "the send waited for the recorder"
    );
    assert!(
        published.blocked >= Duration::from_millis(100),
        "{published:?}"
    );
    let (blocker, seqs) = reader.join().unwrap();
    assert_eq!(seqs, [0, 1], "the recorder lost nothing");
    assert_eq!(
        recv(&mut newest).sequence(),
        0,
        "the viewer kept the older frame"
    );
    assert!(newest.try_recv().unwrap().is_none());
    let stats = publisher.stats();
    assert_eq!((stats.blocked_sends, stats.discarded), (1, 1));
    let reports = publisher.subscribers();
    let viewer = reports.iter().find(|r| r.name == "viewer").unwrap();
    let recorder = reports.iter().find(|r| r.name == "recorder").unwrap();
    assert_eq!(viewer.discarded, 1);
    assert!(recorder.blocked >= Duration::from_millis(100));
    drop((blocker, newest, publisher));
    check.finish().unwrap();
}

#[test]
fn a_blocked_send_gives_up_after_max_wait_or_on_cancel() {
    let check = LeakCheck::new();
    let domain = TestDomain::new("giveup").unwrap();
    let token = CancelToken::new();
    let l = layout(PixelFormat::Gray8, 8, 8);
    let publisher = Publisher::create(
        &domain,
        "cam/f",
        PublisherOptions::new()
            .delivery(Delivery::blocking(Duration::from_millis(300)))
            .initial_layout(l)
            .with_cancel(&token),
    )
    .unwrap();
    let mut sub =
        Subscriber::connect(&domain, "cam/f", SubscriberOptions::new(Link::block(1))).unwrap();
    publisher.publish(&frame(l, 0)).unwrap();
    let t = Instant::now();
    publisher.publish(&frame(l, 1)).unwrap();
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited < 3 * SECOND,
        "{waited:?}"
    );
    assert_eq!(publisher.stats().discarded, 1);
    token.cancel();
    let t = Instant::now();
    publisher.publish(&frame(l, 2)).unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "a cancelled publisher does not wait"
    );
    assert_eq!(recv(&mut sub).sequence(), 0);
    drop((sub, publisher));
    check.finish().unwrap();
}

#[test]
fn impossible_policies_are_typed_errors() {
    let domain = TestDomain::new("policies").unwrap();
    let lossy =
        Publisher::create(&domain, "cam/lossy", PublisherOptions::new().max_depth(3)).unwrap();
    let blocking = Publisher::create(
        &domain,
        "cam/blocking",
        PublisherOptions::new().delivery(Delivery::blocking(SECOND)),
    )
    .unwrap();
    let refused = |service: &str, link: Link| match Subscriber::connect(
        &domain,
        service,
        SubscriberOptions::new(link),
    ) {
        Err(IpcError::PolicyNotOffered { requested, .. }) => assert_eq!(requested, link),
        Err(e) => panic!("{service} {link}: {e}"),
        Ok(_) => panic!("{service} {link}: accepted"),
    };
    refused("cam/lossy", Link::block(2));
    refused("cam/lossy", Link::drop_newest(2));
    refused("cam/lossy", Link::drop_oldest(4)); // deeper than max_depth
    refused("cam/blocking", Link::latest());
    // Names: a long subscriber name is cut, a bad service name is a typed error.
    let long = "ü".repeat(200);
    let long_named = SubscriberOptions::new(Link::latest()).name(&long);
    if let Err(e) = Subscriber::connect(&domain, "cam/lossy", long_named) {
        panic!("{e:?}");
    }
    assert!(matches!(
        Subscriber::connect(&domain, "", SubscriberOptions::new(Link::latest())),
        Err(IpcError::InvalidName { .. })
    ));
    assert!(matches!(
        Publisher::create(&domain, &"x".repeat(300), PublisherOptions::new()),
        Err(IpcError::InvalidName { .. })
    ));
    refused("cam/blocking", Link::drop_oldest(2));
    assert!(Subscriber::connect(
        &domain,
        "cam/lossy",
        SubscriberOptions::new(Link::drop_oldest(3))
    )
    .is_ok());
    assert!(Subscriber::connect(
        &domain,
        "cam/blocking",
        SubscriberOptions::new(Link::block(2))
    )
    .is_ok());
    // A second publisher of a live service, and one asking for another delivery.
    match Publisher::create(&domain, "cam/lossy", PublisherOptions::new().max_depth(3)) {
        Err(IpcError::PublisherExists { .. }) => {}
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("a second publisher"),
    }
    // The service outlives its publisher while a subscriber keeps it: a new publisher
    // must agree with it.
    let keep =
        Subscriber::connect(&domain, "cam/lossy", SubscriberOptions::new(Link::latest())).unwrap();
    drop(lossy);
    let lossy_opts = || PublisherOptions::new().max_depth(3);
    match Publisher::create(
        &domain,
        "cam/lossy",
        lossy_opts().delivery(Delivery::blocking(SECOND)),
    ) {
        Err(IpcError::Incompatible { reason, .. }) => {
            assert!(reason.contains("delivery"), "{reason}")
        }
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("a blocking publisher on a lossy service"),
    }
    assert!(Publisher::create(&domain, "cam/lossy", lossy_opts()).is_ok());
    drop(keep);
    drop(blocking);
}

#[test]
fn recv_is_cancellable_and_waits_for_a_late_publisher() {
    let check = LeakCheck::new();
    let domain = TestDomain::new("cancel").unwrap();
    let mut sub =
        Subscriber::connect(&domain, "cam/g", SubscriberOptions::new(Link::latest())).unwrap();
    assert!(!sub.is_attached(), "no publisher yet");
    // Cancelled from another thread: returns at once.
    let token = CancelToken::new();
    let canceller = {
        let token = token.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            token.cancel();
            Instant::now()
        })
    };
    assert!(matches!(sub.recv(&token), Err(IpcError::Cancelled)));
    let latency = canceller.join().unwrap().elapsed();
    assert!(
        latency < Duration::from_millis(100),
        "cancel took {latency:?}"
    );
    // A deadline token.
    let t = Instant::now();
    assert!(matches!(
        sub.recv(&CancelToken::new().child_with_timeout(Duration::from_millis(50))),
        Err(IpcError::Cancelled)
    ));
    assert!(t.elapsed() < Duration::from_millis(500));
    // The publisher comes up later: the subscriber attaches and gets its frames.
    let domain2 = domain.domain().clone();
    let publisher = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        let p = Publisher::create(&domain2, "cam/g", PublisherOptions::new()).unwrap();
        thread::sleep(Duration::from_millis(100));
        p.publish(&frame(layout(PixelFormat::Gray8, 8, 8), 3))
            .unwrap();
        p
    });
    let got = recv(&mut sub);
    assert_eq!(got.sequence(), 3);
    assert!(sub.is_attached());
    drop(got);
    let publisher = publisher.join().unwrap();
    drop((sub, publisher));
    check.finish().unwrap();
}

#[test]
fn at_the_hold_limit_recv_waits_for_a_release() {
    let check = LeakCheck::new();
    let domain = TestDomain::new("holdlimit").unwrap();
    let publisher =
        Publisher::create(&domain, "cam/h", PublisherOptions::new().max_held(2)).unwrap();
    let mut sub = Subscriber::connect(
        &domain,
        "cam/h",
        SubscriberOptions::new(Link::drop_oldest(4)),
    )
    .unwrap();
    let l = layout(PixelFormat::Gray8, 8, 8);
    for seq in 0..3 {
        publisher.publish(&frame(l, seq)).unwrap();
    }
    let a = recv(&mut sub);
    let b = recv(&mut sub);
    assert!(
        sub.try_recv().unwrap().is_none(),
        "two held: the third waits"
    );
    let release = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        drop(a);
    });
    let t = Instant::now();
    let c = recv(&mut sub);
    assert!(
        t.elapsed() < SECOND,
        "woken by the release, not the liveness timer"
    );
    assert_eq!(c.sequence(), 2);
    release.join().unwrap();
    drop((b, c, sub, publisher));
    check.finish().unwrap();
}

#[test]
fn publisher_gone_is_end_of_stream_for_a_source_and_a_restart_is_picked_up() {
    let check = LeakCheck::new();
    let domain = TestDomain::new("gone").unwrap();
    let l = layout(PixelFormat::Gray8, 8, 8);
    let options = || PublisherOptions::new().initial_layout(l);
    let publisher = Publisher::create(&domain, "cam/i", options()).unwrap();
    let mut sub = Subscriber::connect(
        &domain,
        "cam/i",
        SubscriberOptions::new(Link::drop_oldest(2)),
    )
    .unwrap();
    publisher.publish(&frame(l, 1)).unwrap();
    drop(publisher);
    let token = CancelToken::new().child_with_timeout(5 * SECOND);
    // The queued frame first, then the departure.
    assert_eq!(sub.recv(&token).unwrap().sequence(), 1);
    let t = Instant::now();
    match sub.recv(&token) {
        Err(IpcError::PublisherGone { crashed, .. }) => assert!(!crashed),
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < SECOND, "noticed in {:?}", t.elapsed());
    // A new publisher is picked up by the same subscriber.
    let publisher = Publisher::create(&domain, "cam/i", options()).unwrap();
    publisher.publish(&frame(l, 2)).unwrap();
    assert_eq!(sub.recv(&token).unwrap().sequence(), 2);
    assert_eq!(sub.stats().publishers, 2);
    assert_eq!(sub.stats().publishers_gone, 1);
    // As a pipeline source: frames flow, the publisher's close ends the stream.
    let sink = framekeep_core::testing::NullSink::new();
    let counted = sink.stats();
    let pipeline = PipelineBuilder::new("ipc")
        .source("subscriber", sub)
        .sink("null", Link::block(2), sink)
        .start()
        .unwrap();
    thread::sleep(Duration::from_millis(100));
    for seq in 3..8 {
        publisher.publish(&frame(l, seq)).unwrap();
        thread::sleep(Duration::from_millis(5));
    }
    drop(publisher);
    assert!(
        pipeline.wait(5 * SECOND),
        "the stream ends when the publisher closes"
    );
    assert!(pipeline.shutdown().is_clean());
    assert_eq!(counted.snapshot().frames, 5);
    check.finish().unwrap();
}

#[test]
fn a_subscriber_is_a_send_source() {
    fn is_source<S: Source + Send + 'static>() {}
    is_source::<Subscriber>();
    fn is_sink<S: framekeep_core::pipeline::Sink + Send + Clone + 'static>() {}
    is_sink::<Publisher>();
    let _ = Arc::new(());
}

/// A domain name `Domain::named` accepts works all the way to a subscriber (whose event
/// socket path holds the name twice); a longer one is refused up front. Failed before:
/// names of 23 to 64 bytes were accepted and the subscriber then failed with
/// "create the event listener".
#[test]
fn every_accepted_domain_name_fits_the_socket_paths() {
    let max = Domain::max_name_len();
    let stamp = std::process::id();
    for len in [max, max + 1, 30, 64] {
        let name: String = format!("n{stamp}x{len}-")
            .chars()
            .chain(std::iter::repeat('z'))
            .take(len)
            .collect();
        let domain = match Domain::named(&name) {
            Ok(domain) => domain,
            Err(IpcError::InvalidName { .. }) => {
                assert!(len > max, "a name of {len} bytes (max {max}) refused");
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        assert!(len <= max, "a name of {len} bytes accepted (max {max})");
        let publisher = Publisher::create(&domain, "cam/a", PublisherOptions::new()).unwrap();
        let subscriber = Subscriber::connect(
            &domain,
            "cam/a",
            SubscriberOptions::new(Link::drop_oldest(2)),
        );
        let ok = subscriber.is_ok();
        drop((subscriber, publisher));
        let _ = std::fs::remove_dir_all(domain.root());
        assert!(ok, "a subscriber in domain {name} ({len} bytes)");
    }
}

/// A publisher whose port is gone but whose goodbye has not come yet (here a loan it
/// lent keeps its notifier for a while, as a dropping publisher's notifier goes just
/// after its port) closed; it did not crash. Before, the first liveness check that found
/// no port reported `PublisherGone { crashed: true }` (seen in `framekeep serve`'s vivid VM
/// test: a viewer of a cleanly ended serve exited 1); now the check waits once more for
/// the goodbye.
#[test]
fn a_goodbye_that_comes_after_the_port_went_is_a_close_not_a_crash() {
    let check = LeakCheck::new();
    let domain = TestDomain::new("late-bye").unwrap();
    let l = layout(PixelFormat::Gray8, 8, 8);
    let publisher = Publisher::create(
        &domain,
        "cam/bye",
        PublisherOptions::new().initial_layout(l),
    )
    .unwrap();
    let liveness = Duration::from_millis(400);
    let mut sub = Subscriber::connect(
        &domain,
        "cam/bye",
        SubscriberOptions::new(Link::drop_oldest(2)).liveness_interval(liveness),
    )
    .unwrap();
    publisher.publish(&frame(l, 1)).unwrap();
    assert_eq!(recv(&mut sub).sequence(), 1);
    let loan = publisher.loan_frame(l.len()).unwrap().expect("a loan");
    drop(publisher);
    // The goodbye comes 1.5 liveness intervals later: after the first check (at one
    // interval), before the second (at two).
    let late = thread::spawn(move || {
        thread::sleep(liveness * 3 / 2);
        drop(loan);
    });
    let token = CancelToken::new().child_with_timeout(5 * SECOND);
    match sub.recv(&token) {
        Err(IpcError::PublisherGone { crashed, .. }) => {
            assert!(!crashed, "a publisher that said goodbye closed")
        }
        other => panic!("{other:?}"),
    }
    late.join().unwrap();
    drop(sub);
    drop(domain);
    check.finish_within(SECOND).unwrap();
}
