//! CPU per frame and latency, publisher → subscribers, framekeep-ipc against its
//! baselines, all measured in the same run.
//!
//! Cases: 1920x1080 BGR24 and 1280x720 YUYV, 1, 2 and 4 subscribers, 60 fps. Each case
//! runs every implementation back to back (interleaved, so that a change in machine load
//! hits all of them), in fresh processes. The frame source is a camera: its frames are
//! written by DMA, which costs the CPU nothing, so the publishers only stamp each frame
//! (sequence and send time in its first 16 bytes) and subscribers only read the stamp:
//! what is measured is the transport.
//!
//! * `fk-loan`: framekeep-ipc's zero-copy path (a V4L2 USERPTR capture): the publisher
//!   takes a [`Publisher::loan_frame`], stamps it and publishes it; the subscribers `recv`
//!   a framekeep `Frame` over the sample, read its stamp and drop it.
//! * `fk-copy`: the publisher publishes a frame it owns (a V4L2 mmap buffer, a pool
//!   frame), copied once into a loaned sample; subscribers as above.
//! * `raw`: iceoryx2 alone, the floor: loan, stamp, send, notify; the subscribers wait on a
//!   WaitSet, receive, read the stamp, drop the sample. Same service settings.
//! * `uds`: a Unix-socket copy baseline: the publisher writes each frame to every
//!   subscriber's stream socket, the subscribers read it into their buffer.
//! * `gen`: the publishers' loop alone (pacing, stamping), the baseline of the above.
//! * `gst`: GStreamer `videotestsrc ! identity drop-allocation=true ! shmsink` →
//!   `shmsrc ! fakesink` (gst-launch-1.0): the source keeps its own buffers, as v4l2src's
//!   mmap ones, and shmsink copies each into its segment. `gst-zc`: the same without
//!   `identity`, videotestsrc drawing straight into shmsink's memory (no copy).
//!   `gst-gen`: `videotestsrc ! fakesink` alone, their baseline (videotestsrc draws every
//!   frame, which the camera model does not count). Needs `gstreamer1.0-plugins-bad`
//!   (`benches/run.sh` installs it); skipped without it.
//!
//! CPU: the time on CPU of every thread of every process of the case
//! (`/proc/PID/task/*/schedstat`, ns) over the same steady window (after a warm-up),
//! divided by the frames published in it (60 fps × the window); *transport* is that total
//! minus the generation baseline's (`gen`, or `gst-gen` for GStreamer) of the same round.
//! Latency: the publisher's timestamp taken just before the send, to the subscriber's
//! return from its receive call (CLOCK_MONOTONIC in both processes), p50/p99/max over
//! every frame of the window, worst subscriber. Pinning (default, `FRAMEKEEP_BENCH_PIN=0`
//! to turn it off): the publisher on CPU 0, every subscriber on CPU 1.
//!
//! Targets (issue 13): `fk-loan` within 1.3x of `raw` in total CPU per frame; at least 3x
//! less CPU per frame than GStreamer shm (`gst`, transport) at 1080p with 2 subscribers;
//! the publisher's CPU per frame with 4 subscribers within 1.2x of 1; latency p99 < 1 ms
//! per hop at 1080p.
//!
//! Run: `crates/framekeep-ipc/benches/run.sh` (installs GStreamer's shm elements, then
//! `cargo bench -p framekeep-ipc --bench ipc`). `FRAMEKEEP_BENCH_ROUNDS` (default 3),
//! `FRAMEKEEP_BENCH_SECONDS` (the window, default 3). Under `cargo test` it runs one short
//! smoke case of each framekeep and baseline path instead of measuring.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, FrameLayout, FrameMeta, PixelFormat};
use framekeep_core::pipeline::Link;
use framekeep_core::time::monotonic_now;
use framekeep_ipc::testing::{Peer, TestDomain};
use framekeep_ipc::{Domain, IpcError, Publisher, PublisherOptions, Subscriber, SubscriberOptions};
use iceoryx2::prelude::*;

const FPS: u32 = 60;
const WARM_UP: Duration = Duration::from_secs(1);
/// Service settings shared by the framekeep and raw cases.
const MAX_SUBSCRIBERS: usize = 4;
const DEPTH: usize = 2;
const HELD: usize = 2;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--role") {
        return role(&args[2..]);
    }
    if args.iter().any(|a| a == "--bench") {
        bench()
    } else {
        smoke()
    }
}

fn now_ns() -> u64 {
    monotonic_now().as_nanos() as u64
}

/// Pins this process to `cpu` (modulo the CPUs there are).
fn pin(cpu: usize) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: a zeroed cpu_set_t that CPU_SET and sched_setaffinity only touch within its
    // size; pid 0 is this process (its main thread; threads made later inherit it).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % cpus, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Time on CPU of every thread of `pid`, ns.
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Writes the frame's stamp (its sequence number and send time) into its first 16 bytes.
fn stamp(buf: &mut [u8], seq: u64) {
    buf[..8].copy_from_slice(&seq.to_le_bytes());
    buf[8..16].copy_from_slice(&now_ns().to_le_bytes());
}

/// Reads a stamp back.
fn read_stamp(buf: &[u8]) -> (u64, u64) {
    let seq = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes"));
    let ns = u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"));
    (seq, ns)
}

/// What a subscriber reports at its end.
fn print_latencies(mut lat: Vec<u64>, received: u64) {
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len().max(1) - 1) as f64 * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "LAT received={received} n={} p50={} p99={} max={}",
        lat.len(),
        pct(0.5),
        pct(0.99),
        lat.last().copied().unwrap_or(0)
    );
}

// ---------------------------------------------------------------------------------------
// The roles: child processes of one case.
// ---------------------------------------------------------------------------------------

/// `--role KIND CPU ARGS...`
fn role(args: &[String]) -> Result<()> {
    framekeep_ipc::testing::die_with_parent();
    let kind = args[0].as_str();
    let cpu: i64 = args[1].parse()?;
    if cpu >= 0 {
        pin(cpu as usize);
    }
    let a = &args[2..];
    match kind {
        "fk-pub" => {
            let format: PixelFormat = a[1].parse()?;
            let layout = FrameLayout::packed(format, a[2].parse()?, a[3].parse()?)?;
            fk_pub(&a[0], layout, &a[4], a[5].parse()?, a[6].parse()?)
        }
        "fk-sub" => fk_sub(&a[0], a[1].parse()?),
        "raw-pub" => raw_pub(&a[0], a[1].parse()?, a[2].parse()?, a[3].parse()?),
        "raw-sub" => raw_sub(&a[0], a[1].parse()?),
        "gen" => gen(a[0].parse()?),
        "uds-pub" => uds_pub(
            Path::new(&a[0]),
            a[1].parse()?,
            a[2].parse()?,
            a[3].parse()?,
        ),
        "uds-sub" => uds_sub(Path::new(&a[0]), a[1].parse()?, a[2].parse()?),
        other => Err(format!("unknown role {other}").into()),
    }
}

/// Waits (up to 20 s) until every subscriber is there, then a moment for them to settle.
fn wait_for_subscribers(all_there: impl Fn() -> bool) -> Result<()> {
    let waited = Instant::now();
    while !all_there() {
        if waited.elapsed() > Duration::from_secs(20) {
            return Err("subscribers did not come".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    Ok(())
}

/// Paces `frames` iterations at FPS, printing START before the first.
fn paced(frames: u64, mut each: impl FnMut(u64) -> Result<()>) -> Result<()> {
    let period = Duration::from_secs(1) / FPS;
    println!("START");
    std::io::stdout().flush()?;
    let mut next = Instant::now();
    for seq in 0..frames {
        each(seq)?;
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    Ok(())
}

fn fk_pub(domain: &str, layout: FrameLayout, mode: &str, subs: usize, frames: u64) -> Result<()> {
    let domain = Domain::named(domain)?;
    let len = layout.len();
    let options = PublisherOptions::new()
        .max_subscribers(MAX_SUBSCRIBERS)
        .max_depth(DEPTH)
        .max_held(HELD)
        .max_loans(2)
        .initial_layout(layout);
    let publisher = Publisher::create(&domain, "bench/frames", options)?;
    wait_for_subscribers(|| publisher.subscribers().len() >= subs)?;
    // The frames a copying publisher owns ("captured" once: their pixels cost nothing).
    let mut owned: Vec<Frame> = (0..2)
        .map(|_| Frame::zeroed(layout))
        .collect::<std::result::Result<_, _>>()?;
    let meta = |seq| FrameMeta {
        sequence: seq,
        timestamp: monotonic_now(),
    };
    paced(frames, |seq| {
        if mode == "loan" {
            let mut frame = publisher.loan_frame(len)?.ok_or("no sample to loan")?;
            frame.reshape(layout)?;
            stamp(frame.get_mut().ok_or("a loan is unique")?, seq);
            frame.set_meta(meta(seq));
            publisher.publish(&frame)?;
        } else {
            let frame = &mut owned[(seq % 2) as usize];
            stamp(frame.get_mut().ok_or("an owned frame is unique")?, seq);
            frame.set_meta(meta(seq));
            publisher.publish(frame)?;
        }
        Ok(())
    })?;
    println!("DONE {}", publisher.stats());
    Ok(())
}

/// The publisher loop of the other cases without their transport: pacing and stamping.
fn gen(frames: u64) -> Result<()> {
    let mut frame = [0u8; 16];
    paced(frames, |seq| {
        stamp(&mut frame, seq);
        std::hint::black_box(&frame);
        Ok(())
    })?;
    println!("DONE");
    Ok(())
}

fn fk_sub(domain: &str, warm_frames: u64) -> Result<()> {
    let domain = Domain::named(domain)?;
    let mut sub = Subscriber::connect(
        &domain,
        "bench/frames",
        SubscriberOptions::new(Link::drop_oldest(DEPTH)).name("bench"),
    )?;
    println!("READY");
    std::io::stdout().flush()?;
    let token = CancelToken::new().child_with_timeout(Duration::from_secs(120));
    let (mut lat, mut received) = (Vec::with_capacity(4096), 0u64);
    loop {
        match sub.recv(&token) {
            Ok(frame) => {
                let info = sub.last_info().ok_or("info")?;
                let (seq, _) = read_stamp(frame.data());
                received += 1;
                if seq >= warm_frames {
                    lat.push(
                        (info.received_at.saturating_sub(info.published_at)).as_nanos() as u64,
                    );
                }
            }
            Err(IpcError::PublisherGone { .. }) => break,
            Err(e) => return Err(e.into()),
        }
    }
    print_latencies(lat, received);
    Ok(())
}

/// The raw iceoryx2 config of a framekeep domain (same files, so the test domain removes
/// them).
fn raw_config(domain: &str) -> Result<Config> {
    let d = Domain::named(domain)?;
    let mut config = Config::default();
    config.global.prefix = FileName::new(d.prefix().as_bytes())?;
    config.global.set_root_path(&iceoryx2::prelude::Path::new(
        d.root().to_string_lossy().as_bytes(),
    )?);
    Ok(config)
}

type RawService = ipc_threadsafe::Service;

fn raw_node(config: &Config) -> Result<Node<RawService>> {
    Ok(NodeBuilder::new()
        .config(config)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<RawService>()?)
}

#[derive(Debug, Default, Clone, Copy, ZeroCopySend)]
#[type_name("bench.RawHeader")]
#[repr(C)]
struct RawHeader {
    seq: u64,
    sent_ns: u64,
}

const RAW_END: u64 = u64::MAX;

type RawFrames =
    iceoryx2::service::port_factory::publish_subscribe::PortFactory<RawService, [u8], RawHeader>;
type RawEvents = iceoryx2::service::port_factory::event::PortFactory<RawService>;

fn raw_services(node: &Node<RawService>) -> Result<(RawFrames, RawEvents)> {
    let name: ServiceName = "bench/raw".try_into()?;
    let frames = node
        .service_builder(&name)
        .publish_subscribe::<[u8]>()
        .user_header::<RawHeader>()
        .max_publishers(1)
        .max_subscribers(MAX_SUBSCRIBERS)
        .subscriber_max_buffer_size(DEPTH)
        .subscriber_max_borrowed_samples(HELD)
        .enable_safe_overflow(true)
        .open_or_create()?;
    let events = node.service_builder(&name).event().open_or_create()?;
    Ok((frames, events))
}

fn raw_pub(domain: &str, len: usize, subs: usize, frames: u64) -> Result<()> {
    let config = raw_config(domain)?;
    let node = raw_node(&config)?;
    let (service, events) = raw_services(&node)?;
    let publisher = service
        .publisher_builder()
        .initial_max_slice_len(len)
        .max_loaned_samples(2)
        .create()?;
    let notifier = events.notifier_builder().create()?;
    wait_for_subscribers(|| service.dynamic_config().number_of_subscribers() >= subs)?;
    paced(frames, |seq| {
        let mut sample = publisher.loan_slice_uninit(len)?;
        let payload = sample.payload_mut();
        let mut head = [0u8; 16];
        stamp(&mut head, seq);
        // SAFETY: 16 bytes into a payload of `len >= 16` bytes, through a raw pointer into
        // memory iceoryx2 calls uninitialized (writing it is fine).
        unsafe {
            std::ptr::copy_nonoverlapping(head.as_ptr(), payload.as_mut_ptr().cast::<u8>(), 16)
        };
        *sample.user_header_mut() = RawHeader {
            seq,
            sent_ns: now_ns(),
        };
        // SAFETY: the payload is shared memory of the segment, initialized memory whatever
        // it holds (the bytes past the stamp are whatever an earlier sample left, as a
        // frame a driver wrote by DMA would be).
        let sample = unsafe { sample.assume_init() };
        sample.send()?;
        notifier.notify()?;
        Ok(())
    })?;
    let mut end = publisher.loan_slice_uninit(0)?;
    end.user_header_mut().seq = RAW_END;
    // SAFETY: an empty payload.
    unsafe { end.assume_init() }.send()?;
    notifier.notify()?;
    // Let the subscribers take the end marker before the port goes.
    let waited = Instant::now();
    while service.dynamic_config().number_of_subscribers() > 0
        && waited.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("DONE");
    Ok(())
}

fn raw_sub(domain: &str, warm_frames: u64) -> Result<()> {
    let config = raw_config(domain)?;
    let node = raw_node(&config)?;
    let (service, events) = raw_services(&node)?;
    let subscriber = service.subscriber_builder().buffer_size(DEPTH).create()?;
    let listener = events.listener_builder().create()?;
    let waitset = WaitSetBuilder::new()
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<RawService>()?;
    let _guard = waitset.attach_notification(&listener)?;
    println!("READY");
    std::io::stdout().flush()?;
    let (mut lat, mut received, mut done) = (Vec::with_capacity(4096), 0u64, false);
    let started = Instant::now();
    while !done && started.elapsed() < Duration::from_secs(120) {
        waitset.wait_and_process_once_with_timeout(
            |_| CallbackProgression::Continue,
            Duration::from_secs(1),
        )?;
        listener.try_wait(|_| {})?;
        while let Some(sample) = subscriber.receive()? {
            let received_at = now_ns();
            let header = *sample.user_header();
            if header.seq == RAW_END {
                done = true;
                break;
            }
            let (seq, _) = read_stamp(sample.payload());
            received += 1;
            if seq >= warm_frames {
                lat.push(received_at.saturating_sub(header.sent_ns));
            }
        }
    }
    print_latencies(lat, received);
    Ok(())
}

const UDS_HEADER: usize = 16;

fn uds_pub(dir: &Path, len: usize, subs: usize, frames: u64) -> Result<()> {
    let path = dir.join("frames.sock");
    let listener = UnixListener::bind(&path)?;
    println!("LISTENING");
    std::io::stdout().flush()?;
    let mut streams: Vec<UnixStream> = (0..subs)
        .map(|_| listener.accept().map(|(s, _)| s))
        .collect::<std::io::Result<_>>()?;
    std::thread::sleep(Duration::from_millis(200));
    let mut frame = vec![0u8; UDS_HEADER + len];
    paced(frames, |seq| {
        stamp(&mut frame[..UDS_HEADER], seq);
        for s in streams.iter_mut() {
            s.write_all(&frame)?;
        }
        Ok(())
    })?;
    drop(streams);
    let _ = std::fs::remove_file(&path);
    println!("DONE");
    Ok(())
}

fn uds_sub(dir: &Path, len: usize, warm_frames: u64) -> Result<()> {
    let mut stream = UnixStream::connect(dir.join("frames.sock"))?;
    println!("READY");
    std::io::stdout().flush()?;
    let mut frame = vec![0u8; UDS_HEADER + len];
    let (mut lat, mut received) = (Vec::with_capacity(4096), 0u64);
    while stream.read_exact(&mut frame).is_ok() {
        let received_at = now_ns();
        let (seq, sent) = read_stamp(&frame);
        received += 1;
        if seq >= warm_frames {
            lat.push(received_at.saturating_sub(sent));
        }
    }
    print_latencies(lat, received);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The driver.
// ---------------------------------------------------------------------------------------

/// A bench role in a child process (this binary, `--role KIND CPU ARGS...`).
fn role_proc(kind: &str, cpu: i64, args: &[String]) -> Result<Peer> {
    Ok(Peer::spawn_with(
        kind,
        Command::new(std::env::current_exe()?)
            .args(["--role", kind, &cpu.to_string()])
            .args(args),
    )?)
}

/// Waits for a child's line starting with `word`.
fn expect(peer: &mut Peer, word: &str, timeout: Duration) -> Result<()> {
    match peer.wait_for(word, timeout) {
        Some(_) => Ok(()),
        None => {
            let transcript = peer.transcript();
            Err(format!("{}: no {word} line; got:\n{transcript}", peer.name()).into())
        }
    }
}

/// Waits for a child's end (killing it after `timeout`), returns its lines.
fn finish(mut peer: Peer, timeout: Duration) -> Vec<String> {
    peer.stop(timeout);
    peer.lines().iter().map(|l| l.text.clone()).collect()
}

/// SIGINT (gst-launch stops and cleans up), then [`finish`].
fn interrupt(peer: Peer, timeout: Duration) -> Vec<String> {
    // SAFETY: kill(2) on our own running child.
    unsafe { libc::kill(peer.pid() as libc::pid_t, libc::SIGINT) };
    finish(peer, timeout)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    FkLoan,
    FkCopy,
    Raw,
    Uds,
    /// The publisher loop alone (pacing, stamping), no transport: the generation
    /// baseline of the four above.
    Gen,
    /// GStreamer shm with a source that has its own buffers (as v4l2src's mmap ones):
    /// shmsink copies each frame into its segment.
    Gst,
    /// GStreamer shm with videotestsrc drawing straight into shmsink's segment (its
    /// allocator): no copy.
    GstZc,
    /// videotestsrc alone: the generation baseline of the two above.
    GstGen,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::FkLoan => "fk-loan",
            Kind::FkCopy => "fk-copy",
            Kind::Raw => "raw",
            Kind::Uds => "uds",
            Kind::Gen => "gen",
            Kind::Gst => "gst",
            Kind::GstZc => "gst-zc",
            Kind::GstGen => "gst-gen",
        }
    }

    /// Whether its subscribers report latencies.
    fn has_latency(self) -> bool {
        matches!(self, Kind::FkLoan | Kind::FkCopy | Kind::Raw | Kind::Uds)
    }

    /// The generation baseline its transport cost is measured against.
    fn baseline(self) -> Kind {
        match self {
            Kind::Gst | Kind::GstZc | Kind::GstGen => Kind::GstGen,
            _ => Kind::Gen,
        }
    }
}

#[derive(Clone, Copy)]
struct Format {
    name: &'static str,
    fourcc: &'static str,
    gst: &'static str,
    width: usize,
    height: usize,
    bpp: usize,
}

const FORMATS: [Format; 2] = [
    Format {
        name: "1080p BGR24",
        fourcc: "BGR3",
        gst: "BGR",
        width: 1920,
        height: 1080,
        bpp: 3,
    },
    Format {
        name: "720p YUYV",
        fourcc: "YUYV",
        gst: "YUY2",
        width: 1280,
        height: 720,
        bpp: 2,
    },
];

impl Format {
    fn len(&self) -> usize {
        self.width * self.height * self.bpp
    }
}

/// One measurement.
#[derive(Clone, Debug, Default)]
struct Sample {
    pub_us: f64,
    subs_us: f64,
    /// Latency percentiles over all subscribers (µs), when measured.
    p50: f64,
    p99: f64,
    max: f64,
    received: u64,
}

impl Sample {
    fn total(&self) -> f64 {
        self.pub_us + self.subs_us
    }
}

struct Setup {
    pin: bool,
    window: Duration,
}

impl Setup {
    fn cpu(&self, publisher: bool) -> i64 {
        match (self.pin, publisher) {
            (false, _) => -1,
            (true, true) => 0,
            (true, false) => 1,
        }
    }
}

/// Samples the CPU of `pubs` and `subs` over the window after warm-up; frames = FPS ×
/// window.
fn measure(setup: &Setup, pubs: &[u32], subs: &[u32]) -> (f64, f64) {
    std::thread::sleep(WARM_UP);
    let sum = |pids: &[u32]| pids.iter().map(|&p| cpu_ns(p)).sum::<u64>();
    let (p0, s0, t0) = (sum(pubs), sum(subs), Instant::now());
    std::thread::sleep(setup.window);
    let (p1, s1, dt) = (sum(pubs), sum(subs), t0.elapsed());
    let frames = dt.as_secs_f64() * f64::from(FPS);
    (
        (p1 - p0) as f64 / 1e3 / frames,
        (s1 - s0) as f64 / 1e3 / frames,
    )
}

/// Merges the subscribers' `LAT` lines (percentiles are taken per subscriber and the
/// worst is reported).
fn latencies(lines: &[Vec<String>]) -> (f64, f64, f64, u64) {
    let (mut p50, mut p99, mut max, mut received) = (0f64, 0f64, 0f64, 0u64);
    for sub in lines {
        if let Some(lat) = sub.iter().find(|l| l.starts_with("LAT")) {
            let f = framekeep_ipc::testing::fields(lat);
            let n = |k: &str| f.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            p50 = p50.max(n("p50") / 1e3);
            p99 = p99.max(n("p99") / 1e3);
            max = max.max(n("max") / 1e3);
            received += n("received") as u64;
        }
    }
    (p50, p99, max, received)
}

fn run_case(setup: &Setup, kind: Kind, format: Format, nsubs: usize) -> Result<Sample> {
    let len = format.len();
    // Warm-up, window, and a second to spare for starting and sampling.
    let frames = ((WARM_UP + setup.window).as_secs_f64() * f64::from(FPS)) as u64 + u64::from(FPS);
    let warm = (WARM_UP.as_secs_f64() * f64::from(FPS)) as u64;
    match kind {
        Kind::FkLoan | Kind::FkCopy | Kind::Raw => {
            let domain = TestDomain::new("bench")?;
            let (pub_role, sub_role) = if kind == Kind::Raw {
                ("raw-pub", "raw-sub")
            } else {
                ("fk-pub", "fk-sub")
            };
            let mut subs = Vec::new();
            for _ in 0..nsubs {
                let mut s = role_proc(
                    sub_role,
                    setup.cpu(false),
                    &[domain.name().into(), warm.to_string()],
                )?;
                expect(&mut s, "READY", Duration::from_secs(20))?;
                subs.push(s);
            }
            let pub_args: Vec<String> = if kind == Kind::Raw {
                vec![
                    domain.name().into(),
                    len.to_string(),
                    nsubs.to_string(),
                    frames.to_string(),
                ]
            } else {
                let mode = if kind == Kind::FkLoan { "loan" } else { "copy" };
                vec![
                    domain.name().into(),
                    format.fourcc.into(),
                    format.width.to_string(),
                    format.height.to_string(),
                    mode.into(),
                    nsubs.to_string(),
                    frames.to_string(),
                ]
            };
            let mut publisher = role_proc(pub_role, setup.cpu(true), &pub_args)?;
            expect(&mut publisher, "START", Duration::from_secs(30))?;
            let sub_pids: Vec<u32> = subs.iter().map(Peer::pid).collect();
            let (pub_us, subs_us) = measure(setup, &[publisher.pid()], &sub_pids);
            let pub_lines = finish(publisher, Duration::from_secs(30));
            if !pub_lines.iter().any(|l| l.starts_with("DONE")) {
                return Err(format!("{} publisher failed: {pub_lines:?}", kind.name()).into());
            }
            let sub_lines: Vec<Vec<String>> = subs
                .into_iter()
                .map(|s| finish(s, Duration::from_secs(10)))
                .collect();
            let (p50, p99, max, received) = latencies(&sub_lines);
            Ok(Sample {
                pub_us,
                subs_us,
                p50,
                p99,
                max,
                received,
            })
        }
        Kind::Uds => {
            let dir = std::env::temp_dir().join(format!("fk-bench-uds-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let dir_arg = dir.to_string_lossy().into_owned();
            let mut publisher = role_proc(
                "uds-pub",
                setup.cpu(true),
                &[
                    dir_arg.clone(),
                    len.to_string(),
                    nsubs.to_string(),
                    frames.to_string(),
                ],
            )?;
            expect(&mut publisher, "LISTENING", Duration::from_secs(20))?;
            let mut subs = Vec::new();
            for _ in 0..nsubs {
                let mut s = role_proc(
                    "uds-sub",
                    setup.cpu(false),
                    &[dir_arg.clone(), len.to_string(), warm.to_string()],
                )?;
                expect(&mut s, "READY", Duration::from_secs(20))?;
                subs.push(s);
            }
            expect(&mut publisher, "START", Duration::from_secs(30))?;
            let sub_pids: Vec<u32> = subs.iter().map(Peer::pid).collect();
            let (pub_us, subs_us) = measure(setup, &[publisher.pid()], &sub_pids);
            finish(publisher, Duration::from_secs(30));
            let sub_lines: Vec<Vec<String>> = subs
                .into_iter()
                .map(|s| finish(s, Duration::from_secs(10)))
                .collect();
            let _ = std::fs::remove_dir_all(&dir);
            let (p50, p99, max, received) = latencies(&sub_lines);
            Ok(Sample {
                pub_us,
                subs_us,
                p50,
                p99,
                max,
                received,
            })
        }
        Kind::Gen => {
            let mut publisher = role_proc("gen", setup.cpu(true), &[frames.to_string()])?;
            expect(&mut publisher, "START", Duration::from_secs(30))?;
            let (pub_us, _) = measure(setup, &[publisher.pid()], &[]);
            finish(publisher, Duration::from_secs(30));
            Ok(Sample {
                pub_us,
                ..Sample::default()
            })
        }
        Kind::Gst | Kind::GstZc | Kind::GstGen => gst_case(setup, kind, format, nsubs),
    }
}

fn gst_available() -> bool {
    Command::new("gst-inspect-1.0")
        .arg("shmsink")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn gst_launch(cpu: i64, pipeline: &str) -> Result<Peer> {
    let mut command = if cpu >= 0 {
        let mut c = Command::new("taskset");
        c.args(["-c", &cpu.to_string(), "gst-launch-1.0"]);
        c
    } else {
        Command::new("gst-launch-1.0")
    };
    command
        .arg("-q")
        .args(pipeline.split_whitespace())
        .stderr(Stdio::null());
    Ok(Peer::spawn_with("gst-launch", &mut command)?)
}

fn gst_case(setup: &Setup, kind: Kind, format: Format, nsubs: usize) -> Result<Sample> {
    let caps = format!(
        "video/x-raw,format={},width={},height={},framerate={FPS}/1",
        format.gst, format.width, format.height
    );
    let source = format!("videotestsrc is-live=true pattern=black ! {caps}");
    if kind == Kind::GstGen {
        let publisher = gst_launch(setup.cpu(true), &format!("{source} ! fakesink sync=false"))?;
        let (pub_us, _) = measure(setup, &[publisher.pid()], &[]);
        interrupt(publisher, Duration::from_secs(5));
        return Ok(Sample {
            pub_us,
            ..Sample::default()
        });
    }
    let socket = std::env::temp_dir().join(format!("fk-bench-gst-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let shm_size = format.len() * 8;
    // Without the allocation query, videotestsrc keeps its own buffers and shmsink copies
    // each into its segment, as it would a v4l2src mmap buffer.
    let copy = if kind == Kind::Gst {
        "! identity drop-allocation=true "
    } else {
        ""
    };
    let publisher = gst_launch(
        setup.cpu(true),
        &format!(
            "{source} {copy}! shmsink socket-path={} shm-size={shm_size} wait-for-connection=false sync=false",
            socket.display()
        ),
    )?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let subs: Vec<Peer> = (0..nsubs)
        .map(|_| {
            gst_launch(
                setup.cpu(false),
                &format!(
                    "shmsrc socket-path={} is-live=true ! {caps} ! fakesink sync=false",
                    socket.display()
                ),
            )
        })
        .collect::<Result<_>>()?;
    let sub_pids: Vec<u32> = subs.iter().map(Peer::pid).collect();
    let (pub_us, subs_us) = measure(setup, &[publisher.pid()], &sub_pids);
    for s in subs {
        interrupt(s, Duration::from_secs(5));
    }
    let pub_pid = publisher.pid();
    interrupt(publisher, Duration::from_secs(5));
    let _ = std::fs::remove_file(&socket);
    remove_gst_shm(pub_pid);
    Ok(Sample {
        pub_us,
        subs_us,
        ..Sample::default()
    })
}

/// shmsink's segment (`/dev/shm/shmpipe.PID.N`), in case it was not removed.
fn remove_gst_shm(pid: u32) {
    if let Ok(dir) = std::fs::read_dir("/dev/shm") {
        for entry in dir.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("shmpipe.{pid}."))
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn bench() -> Result<()> {
    let rounds: usize = env_or("FRAMEKEEP_BENCH_ROUNDS", 3);
    let setup = Setup {
        pin: env_or("FRAMEKEEP_BENCH_PIN", 1) != 0,
        window: Duration::from_secs(env_or("FRAMEKEEP_BENCH_SECONDS", 3)),
    };
    let gst = gst_available();
    let mut kinds = vec![Kind::FkLoan, Kind::FkCopy, Kind::Raw, Kind::Uds, Kind::Gen];
    if gst {
        kinds.extend([Kind::Gst, Kind::GstZc, Kind::GstGen]);
    } else {
        println!(
            "GStreamer's shmsink is not installed (benches/run.sh installs it): gst cases skipped"
        );
    }
    println!(
        "{rounds} rounds, {FPS} fps, warm-up {WARM_UP:?}, window {:?}, pinned: {} (publisher on CPU 0, subscribers on CPU 1)",
        setup.window, setup.pin
    );
    // results[(format, subs, kind)] = samples over rounds (None where a case failed)
    let mut results: std::collections::BTreeMap<(usize, usize, usize), Vec<Option<Sample>>> =
        Default::default();
    let mut loads = Vec::new();
    for round in 0..rounds {
        for (fi, format) in FORMATS.iter().enumerate() {
            for nsubs in [1usize, 2, 4] {
                loads.push(load());
                for (ki, kind) in kinds.iter().enumerate() {
                    let sample = match run_case(&setup, *kind, *format, nsubs) {
                        Ok(s) => {
                            eprintln!(
                                "round {round} {} {nsubs} {}: pub {:.1} subs {:.1} total {:.1} µs/frame, p99 {:.0} µs (load {})",
                                format.name,
                                kind.name(),
                                s.pub_us,
                                s.subs_us,
                                s.total(),
                                s.p99,
                                loads.last().map_or("", String::as_str)
                            );
                            Some(s)
                        }
                        Err(e) => {
                            eprintln!(
                                "round {round} {} {nsubs} {}: FAILED {e}",
                                format.name,
                                kind.name()
                            );
                            None
                        }
                    };
                    results.entry((fi, nsubs, ki)).or_default().push(sample);
                }
            }
        }
    }
    let samples = |fi: usize, n: usize, kind: Kind| -> Vec<Option<Sample>> {
        kinds
            .iter()
            .position(|k| *k == kind)
            .and_then(|ki| results.get(&(fi, n, ki)))
            .cloned()
            .unwrap_or_default()
    };
    // The median over rounds of f(kind's sample, its baseline's sample of the same round).
    let med = |fi: usize, n: usize, kind: Kind, f: &dyn Fn(&Sample, &Sample) -> f64| -> f64 {
        let (a, b) = (samples(fi, n, kind), samples(fi, n, kind.baseline()));
        median(
            a.iter()
                .zip(b.iter().chain(std::iter::repeat(&None)))
                .filter_map(|(a, b)| Some(f(a.as_ref()?, b.as_ref().unwrap_or(&Sample::default()))))
                .collect(),
        )
    };
    // The median over rounds of f(a's sample) / f(b's sample) per round.
    let ratio = |fi: usize,
                 n: usize,
                 a: Kind,
                 fa: &dyn Fn(&Sample, &Sample) -> f64,
                 b: Kind,
                 fb: &dyn Fn(&Sample, &Sample) -> f64|
     -> f64 {
        let (sa, ba, sb, bb) = (
            samples(fi, n, a),
            samples(fi, n, a.baseline()),
            samples(fi, n, b),
            samples(fi, n, b.baseline()),
        );
        let zero = Sample::default();
        median(
            (0..sa.len())
                .filter_map(|r| {
                    let x = fa(
                        sa.get(r)?.as_ref()?,
                        ba.get(r).and_then(Option::as_ref).unwrap_or(&zero),
                    );
                    let y = fb(
                        sb.get(r)?.as_ref()?,
                        bb.get(r).and_then(Option::as_ref).unwrap_or(&zero),
                    );
                    Some(x / y)
                })
                .collect(),
        )
    };
    let total: &dyn Fn(&Sample, &Sample) -> f64 = &|s, _| s.total();
    let transport: &dyn Fn(&Sample, &Sample) -> f64 = &|s, base| s.total() - base.pub_us;
    let publisher: &dyn Fn(&Sample, &Sample) -> f64 = &|s, _| s.pub_us;
    println!(
        "load average during the run (1/5/15 min, at each case): first {}, last {}",
        loads.first().map_or("", String::as_str),
        loads.last().map_or("", String::as_str)
    );
    println!();
    println!("Medians over rounds. CPU: µs per frame, all threads of all processes; transport = total minus the generation baseline (gen or gst-gen) of the same round. Latency: µs, worst subscriber.");
    println!("| format | subs | impl | publisher | subscribers (sum) | total | transport | lat p50 | p99 | max |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (fi, format) in FORMATS.iter().enumerate() {
        for n in [1usize, 2, 4] {
            for kind in &kinds {
                let m = |f: &dyn Fn(&Sample, &Sample) -> f64| med(fi, n, *kind, f);
                let lat = if kind.has_latency() {
                    format!(
                        "{:.0} | {:.0} | {:.0}",
                        m(&|s, _| s.p50),
                        m(&|s, _| s.p99),
                        m(&|s, _| s.max)
                    )
                } else {
                    "- | - | -".to_string()
                };
                let transport = if matches!(kind, Kind::Gen | Kind::GstGen) {
                    "-".to_string()
                } else {
                    format!("{:.1}", m(transport))
                };
                println!(
                    "| {} | {n} | {} | {:.1} | {:.1} | {:.1} | {transport} | {lat} |",
                    format.name,
                    kind.name(),
                    m(publisher),
                    m(&|s, _| s.subs_us),
                    m(total),
                );
            }
        }
    }
    println!();
    println!("Ratios (median of per-round ratios):");
    for (fi, format) in FORMATS.iter().enumerate() {
        for n in [1usize, 2, 4] {
            let loan_raw = ratio(fi, n, Kind::FkLoan, total, Kind::Raw, total);
            let copy_raw = ratio(fi, n, Kind::FkCopy, total, Kind::Raw, total);
            let uds_loan = ratio(fi, n, Kind::Uds, total, Kind::FkLoan, total);
            println!(
                "{} {n} sub(s): total fk-loan/raw {loan_raw:.2}x (target ≤ 1.3x: {}), fk-copy/raw {copy_raw:.2}x, uds/fk-loan {uds_loan:.1}x",
                format.name,
                verdict(loan_raw <= 1.3)
            );
        }
        let pub41 = |kind: Kind| {
            let (four, one) = (samples(fi, 4, kind), samples(fi, 1, kind));
            median(
                four.iter()
                    .zip(&one)
                    .filter_map(|(a, b)| Some(a.as_ref()?.pub_us / b.as_ref()?.pub_us))
                    .collect(),
            )
        };
        println!(
            "{}: publisher CPU per frame, 4 subs / 1 sub: fk-loan {:.2}x (target ≤ 1.2x: {}), fk-copy {:.2}x, raw {:.2}x",
            format.name,
            pub41(Kind::FkLoan),
            verdict(pub41(Kind::FkLoan) <= 1.2),
            pub41(Kind::FkCopy),
            pub41(Kind::Raw)
        );
        if gst {
            for n in [1usize, 2, 4] {
                let copy_vs_loan = ratio(fi, n, Kind::Gst, transport, Kind::FkLoan, transport);
                let copy_vs_copy = ratio(fi, n, Kind::Gst, transport, Kind::FkCopy, transport);
                let zc_vs_loan = ratio(fi, n, Kind::GstZc, transport, Kind::FkLoan, transport);
                let totals = ratio(fi, n, Kind::Gst, total, Kind::FkLoan, total);
                let target = if fi == 0 && n == 2 {
                    format!(" (target ≥ 3x: {})", verdict(copy_vs_loan >= 3.0))
                } else {
                    String::new()
                };
                println!(
                    "{} {n} sub(s): transport gst/fk-loan {copy_vs_loan:.1}x{target}, gst/fk-copy {copy_vs_copy:.1}x, gst-zc/fk-loan {zc_vs_loan:.1}x; total gst/fk-loan {totals:.1}x",
                    format.name
                );
            }
        }
    }
    let p99 = |kind: Kind| med(0, 1, kind, &|s, _| s.p99);
    println!(
        "1080p latency p99, 1 subscriber: fk-loan {:.0} µs (target < 1000 µs: {}), fk-copy {:.0} µs, raw {:.0} µs",
        p99(Kind::FkLoan),
        verdict(p99(Kind::FkLoan) < 1000.0),
        p99(Kind::FkCopy),
        p99(Kind::Raw)
    );
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// Under `cargo test`: one short case of each path, small frames, checked for sense.
fn smoke() -> Result<()> {
    let setup = Setup {
        pin: false,
        window: Duration::from_millis(300),
    };
    let format = Format {
        name: "smoke",
        fourcc: "GREY",
        gst: "GRAY8",
        width: 320,
        height: 240,
        bpp: 1,
    };
    for kind in [Kind::FkLoan, Kind::FkCopy, Kind::Raw, Kind::Uds] {
        let s = run_case(&setup, kind, format, 1)?;
        if !(s.received > 0 && s.pub_us > 0.0 && s.subs_us > 0.0) {
            return Err(format!("{}: nothing measured: {s:?}", kind.name()).into());
        }
        println!("smoke {}: {s:?}", kind.name());
    }
    Ok(())
}
