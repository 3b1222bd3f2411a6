//! The child process of framekeep-ipc's process-level tests: a publisher or a subscriber
//! driven by its arguments, reporting on stdout one `KIND key=value ...` line per event,
//! and finishing when its stdin closes (or after `--seconds`/`--frames`).
//!
//! ```text
//! framekeep-ipc-peer pub --domain D --service S [--format BGR3] [--size 640x480] [--fps 60]
//!     [--frames N] [--seconds S] [--delivery lossy|blocking:MS] [--loan] [--pipeline]
//!     [--change-at N --format2 F --size2 WxH] [--max-subscribers N] [--max-held N]
//! framekeep-ipc-peer sub --domain D --service S [--policy latest|drop-oldest:N|block:N|drop-newest:N]
//!     [--name X] [--hold N] [--work-ms M] [--verify] [--seconds S] [--follow] [--ctrlc]
//! ```
//!
//! Lines: `READY pid=`, `RATE sent= gap_ms=` (publisher, every 250 ms), `SUBS n=` and
//! `SUB name= held= ...` (publisher, on stdin `report` and every second), `FIRST seq=
//! t=` (subscriber, first frame from a publisher port), `FORMAT ...`, `HELD ok= bad=`,
//! `GONE crashed= t=` (monotonic ns), `RX received= dropped=`, and at the end `STATS ...`,
//! `LEDGER live=` (every live entry of the process's global ledger after everything was
//! dropped: 0 means no leak) and `DONE ...`.

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use framekeep_core::cancel::{install_ctrlc, CancelToken};
use framekeep_core::frame::{Frame, FrameLayout, FrameSize, PixelFormat};
use framekeep_core::ledger::Ledger;
use framekeep_core::pipeline::{Link, PipelineBuilder, SyntheticSource};
use framekeep_core::pool::{Exhausted, PoolOptions};
use framekeep_core::testing::{decode_counter, TestPattern};
use framekeep_core::time::monotonic_now;
use framekeep_ipc::{
    Delivery, Domain, IpcError, Publisher, PublisherOptions, Subscriber, SubscriberOptions,
};

type Args = HashMap<String, String>;

fn main() -> ExitCode {
    framekeep_ipc::testing::die_with_parent();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(role) = argv.first().cloned() else {
        eprintln!("usage: framekeep-ipc-peer pub|sub --domain D --service S ...");
        return ExitCode::from(2);
    };
    let mut args = Args::new();
    let mut it = argv[1..].iter();
    while let Some(key) = it.next() {
        let Some(key) = key.strip_prefix("--") else {
            eprintln!("unexpected argument {key}");
            return ExitCode::from(2);
        };
        let value = match key {
            "loan" | "pipeline" | "verify" | "follow" | "ctrlc" => "1".to_string(),
            _ => match it.next() {
                Some(v) => v.clone(),
                None => {
                    eprintln!("--{key} needs a value");
                    return ExitCode::from(2);
                }
            },
        };
        args.insert(key.to_string(), value);
    }
    let result = match role.as_str() {
        "pub" => publisher(&args),
        "sub" => subscriber(&args),
        other => Err(format!("unknown role {other}").into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut chain = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                chain.push_str(&format!(": {s}"));
                source = s.source();
            }
            println!("ERROR {chain}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn get<T: std::str::FromStr>(args: &Args, key: &str, default: T) -> Result<T> {
    match args.get(key) {
        Some(v) => v.parse().map_err(|_| format!("bad --{key} {v}").into()),
        None => Ok(default),
    }
}

fn flag(args: &Args, key: &str) -> bool {
    args.contains_key(key)
}

fn required<'a>(args: &'a Args, key: &str) -> Result<&'a str> {
    args.get(key)
        .map(String::as_str)
        .ok_or_else(|| format!("--{key} is required").into())
}

fn now_ns() -> u128 {
    monotonic_now().as_nanos()
}

/// A token cancelled when stdin closes (the test's way to stop us), or after `--seconds`.
/// Lines read from stdin are handed to `on_line`.
fn stop_token(
    args: &Args,
    root: CancelToken,
) -> Result<(CancelToken, std::sync::mpsc::Receiver<String>)> {
    let token = match args.get("seconds") {
        Some(s) => root.child_with_timeout(Duration::from_secs_f64(s.parse()?)),
        None => root.child(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(|l| l.ok()) {
            if tx.send(line).is_err() {
                break;
            }
        }
        root.cancel();
    });
    Ok((token, rx))
}

/// Prints the end-of-run leak line: every entry still alive in the global ledger.
fn ledger_line() -> usize {
    let report = Ledger::global().report();
    let live = report.len();
    println!("LEDGER live={live}");
    if live > 0 {
        for line in report.to_string().lines() {
            println!("LEAK {line}");
        }
    }
    live
}

fn layout_of(
    args: &Args,
    format_key: &str,
    size_key: &str,
    default_format: &str,
) -> Result<FrameLayout> {
    let format: PixelFormat = args
        .get(format_key)
        .map(String::as_str)
        .unwrap_or(default_format)
        .parse()?;
    let size: FrameSize = args
        .get(size_key)
        .map(String::as_str)
        .unwrap_or("640x480")
        .parse()?;
    Ok(FrameLayout::packed(format, size.width, size.height)?)
}

fn delivery(args: &Args) -> Result<Delivery> {
    match args.get("delivery").map(String::as_str) {
        None | Some("lossy") => Ok(Delivery::Lossy),
        Some(d) => match d.split_once(':') {
            Some(("blocking", ms)) => Ok(Delivery::blocking(Duration::from_millis(ms.parse()?))),
            _ => Err(format!("bad --delivery {d}").into()),
        },
    }
}

fn publisher(args: &Args) -> Result<()> {
    let domain = Domain::named(required(args, "domain")?)?;
    let service = required(args, "service")?;
    let first = layout_of(args, "format", "size", "BGR3")?;
    let second = if args.contains_key("change-at") {
        Some(layout_of(args, "format2", "size2", "YUYV")?)
    } else {
        None
    };
    let change_at: u64 = get(args, "change-at", u64::MAX)?;
    let fps: f64 = get(args, "fps", 60.0)?;
    let limit: u64 = get(args, "frames", u64::MAX)?;
    let options = PublisherOptions::new()
        .name("peer-publisher")
        .delivery(delivery(args)?)
        .max_subscribers(get(args, "max-subscribers", 8)?)
        .max_held(get(args, "max-held", 4)?)
        .initial_layout(first);
    let publisher = Publisher::create(&domain, service, options)?;
    let (token, commands) = stop_token(args, CancelToken::new())?;
    println!("READY pid={} t={}", std::process::id(), now_ns());
    if flag(args, "pipeline") {
        run_pipeline(&publisher, first, fps, limit, &token, &commands)?;
    } else {
        run_loop(
            args, &publisher, first, second, change_at, fps, limit, &token, &commands,
        )?;
    }
    let stats = publisher.stats();
    println!(
        "STATS published={} copied={} zero_copy={} delivered={} resizes={} dead_cleaned={} send_errors={} discarded={} blocked_sends={}",
        stats.published,
        stats.copied,
        stats.zero_copy,
        stats.delivered,
        stats.resizes,
        stats.dead_nodes_cleaned,
        stats.send_errors,
        stats.discarded,
        stats.blocked_sends
    );
    drop(publisher);
    let live = ledger_line();
    println!("DONE published={} live={live}", stats.published);
    Ok(())
}

fn print_subscribers(publisher: &Publisher) {
    let subs = publisher.subscribers();
    println!("SUBS n={}", subs.len());
    for s in subs {
        println!(
            "SUB name={} pid={} held={} oldest_ms={:.1} received={} dropped={} discarded={}",
            s.name,
            s.pid.unwrap_or(0),
            s.held,
            s.oldest_held.map_or(0.0, |d| d.as_secs_f64() * 1e3),
            s.received,
            s.dropped,
            s.discarded
        );
    }
}

/// Publishing from a plain loop: pooled frames copied, or loaned frames sent as they are.
#[allow(clippy::too_many_arguments)]
fn run_loop(
    args: &Args,
    publisher: &Publisher,
    first: FrameLayout,
    second: Option<FrameLayout>,
    change_at: u64,
    fps: f64,
    limit: u64,
    token: &CancelToken,
    commands: &std::sync::mpsc::Receiver<String>,
) -> Result<()> {
    let loan = flag(args, "loan");
    let period = Duration::from_secs_f64(1.0 / fps);
    let mut layout = first;
    let mut pattern = TestPattern::new(layout).ok_or("no pattern for this format")?;
    let make_pool = |layout: FrameLayout| {
        PoolOptions::new(layout)
            .name("peer frames")
            .min_buffers(2)
            .max_buffers(4)
            .exhausted(Exhausted::FailFast)
            .build()
    };
    let mut pool = make_pool(layout)?;
    let (mut next, mut window, mut last_report) = (Instant::now(), Instant::now(), Instant::now());
    let (mut sent_in_window, mut max_gap, mut last_send) = (0u64, Duration::ZERO, Instant::now());
    let mut seq = 0u64;
    while seq < limit && !token.is_cancelled() {
        if seq == change_at {
            if let Some(l) = second {
                layout = l;
                pattern = TestPattern::new(layout).ok_or("no pattern for this format")?;
                pool = make_pool(layout)?;
                println!(
                    "CHANGE seq={seq} w={} h={} format={}",
                    l.width(),
                    l.height(),
                    l.format()
                );
            }
        }
        let mut frame = if loan {
            let mut f = publisher
                .loan_frame(layout.len())?
                .ok_or("no free sample to loan")?;
            f.reshape(layout)?;
            f
        } else {
            pool.try_acquire("peer frame")?
        };
        let buf = frame.get_mut().ok_or("a fresh frame is unique")?;
        pattern.render(seq, buf);
        frame.set_meta(framekeep_core::frame::FrameMeta {
            sequence: seq,
            timestamp: monotonic_now(),
        });
        publisher.publish(&frame)?;
        drop(frame);
        let now = Instant::now();
        max_gap = max_gap.max(now - last_send);
        last_send = now;
        sent_in_window += 1;
        seq += 1;
        if window.elapsed() >= Duration::from_millis(250) {
            println!(
                "RATE sent={sent_in_window} ms={:.1} gap_ms={:.1}",
                window.elapsed().as_secs_f64() * 1e3,
                max_gap.as_secs_f64() * 1e3
            );
            sent_in_window = 0;
            max_gap = Duration::ZERO;
            window = Instant::now();
        }
        while let Ok(command) = commands.try_recv() {
            if command == "report" {
                print_subscribers(publisher);
            }
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            print_subscribers(publisher);
            last_report = Instant::now();
        }
        next += period;
        let now = Instant::now();
        if next > now {
            token.wait_timeout(next - now);
        } else {
            next = now;
        }
    }
    let stats = pool.stats();
    println!(
        "POOL checked_out={} exhausted={}",
        stats.checked_out, stats.exhausted
    );
    Ok(())
}

/// Publishing as a pipeline sink: synthetic source → publisher.
fn run_pipeline(
    publisher: &Publisher,
    layout: FrameLayout,
    fps: f64,
    limit: u64,
    token: &CancelToken,
    commands: &std::sync::mpsc::Receiver<String>,
) -> Result<()> {
    let mut source =
        SyntheticSource::builder(layout.format(), layout.width(), layout.height()).fps(fps);
    if limit != u64::MAX {
        source = source.frames(limit);
    }
    let source = source.build()?;
    let pool = source.pool().clone();
    let pipeline = PipelineBuilder::new("peer")
        .source("synthetic", source)
        .sink("publisher", Link::block(2), publisher.clone())
        .start()?;
    let mut last = (Instant::now(), publisher.stats().published);
    while !token.is_cancelled() && !pipeline.is_finished() {
        token.wait_timeout(Duration::from_millis(250));
        let published = publisher.stats().published;
        println!(
            "RATE sent={} ms={:.1} gap_ms=0",
            published - last.1,
            last.0.elapsed().as_secs_f64() * 1e3
        );
        last = (Instant::now(), published);
        while let Ok(command) = commands.try_recv() {
            if command == "report" {
                print_subscribers(publisher);
            }
        }
    }
    print_subscribers(publisher);
    let report = pipeline.shutdown();
    println!("PIPELINE clean={}", report.is_clean());
    let stats = pool.stats();
    println!(
        "POOL checked_out={} exhausted={}",
        stats.checked_out, stats.exhausted
    );
    Ok(())
}

fn policy(args: &Args) -> Result<Link> {
    let text = args.get("policy").map(String::as_str).unwrap_or("latest");
    let (kind, n) = match text.split_once(':') {
        Some((k, n)) => (k, n.parse()?),
        None => (text, 1),
    };
    Ok(match kind {
        "latest" => Link::latest(),
        "drop-oldest" => Link::drop_oldest(n),
        "drop-newest" => Link::drop_newest(n),
        "block" => Link::block(n),
        _ => return Err(format!("bad --policy {text}").into()),
    })
}

fn subscriber(args: &Args) -> Result<()> {
    // framekeep's Ctrl-C handler, installed before anything of iceoryx2 exists: SIGINT
    // must still reach it while the subscriber sleeps in its wait set.
    let root = CancelToken::new();
    if flag(args, "ctrlc") {
        install_ctrlc(&root)?;
    }
    let domain = Domain::named(required(args, "domain")?)?;
    let service = required(args, "service")?;
    let name = args.get("name").map(String::as_str).unwrap_or("peer");
    let hold: usize = get(args, "hold", 0)?;
    let work = Duration::from_secs_f64(get::<f64>(args, "work-ms", 0.0)? / 1e3);
    let verify = flag(args, "verify");
    let options = SubscriberOptions::new(policy(args)?)
        .name(name)
        .follow_restarts(flag(args, "follow"));
    let mut sub = Subscriber::connect(&domain, service, options)?;
    let (token, _commands) = stop_token(args, root.clone())?;
    println!(
        "READY pid={} attached={} t={}",
        std::process::id(),
        sub.is_attached(),
        now_ns()
    );
    let mut held: VecDeque<Frame> = VecDeque::new();
    let (mut bad, mut gone, mut layout) = (0u64, 0u64, None);
    let (mut first_seq, mut last_seq) = (None::<u64>, 0u64);
    let mut fresh = true;
    let mut last_report = Instant::now();
    loop {
        let frame = match sub.recv(&token) {
            Ok(frame) => frame,
            Err(IpcError::Cancelled) => {
                if let Some(cause) = root.cause() {
                    println!("STOPPED cause={cause:?}");
                }
                break;
            }
            Err(IpcError::PublisherGone { crashed, .. }) => {
                gone += 1;
                fresh = true;
                println!("GONE crashed={crashed} t={}", now_ns());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let info = sub.last_info().ok_or("a received frame has info")?;
        if fresh {
            println!(
                "FIRST seq={} publish_seq={} t={}",
                frame.sequence(),
                info.publish_seq,
                now_ns()
            );
            fresh = false;
        }
        first_seq.get_or_insert(info.publish_seq);
        last_seq = info.publish_seq;
        if layout != Some(*frame.layout()) {
            let l = frame.layout();
            println!(
                "FORMAT seq={} w={} h={} format={}",
                frame.sequence(),
                l.width(),
                l.height(),
                l.format()
            );
            if layout.is_some() {
                // Frames held from before the change keep their layout and their pixels.
                let ok = held
                    .iter()
                    .filter(|f| Some(*f.layout()) == layout && pixels_ok(f))
                    .count();
                println!("HELD ok={ok} bad={}", held.len() - ok);
            }
            layout = Some(*l);
        }
        if verify && !pixels_ok(&frame) {
            bad += 1;
            println!("BAD seq={}", frame.sequence());
        }
        if hold > 0 {
            while held.len() >= hold {
                held.pop_front();
            }
            held.push_back(frame);
        } else {
            drop(frame);
        }
        if !work.is_zero() {
            std::thread::sleep(work);
        }
        if last_report.elapsed() >= Duration::from_millis(250) {
            let stats = sub.stats();
            println!(
                "RX received={} dropped={} held={}",
                stats.received, stats.dropped, stats.held
            );
            last_report = Instant::now();
        }
    }
    held.clear();
    let stats = sub.stats();
    println!(
        "STATS received={} dropped={} bad={} gone={} publishers={} first_publish_seq={} last_publish_seq={}",
        stats.received,
        stats.dropped,
        bad,
        gone,
        stats.publishers,
        first_seq.map_or(-1, |s| s as i64),
        last_seq
    );
    drop(sub);
    let live = ledger_line();
    println!("DONE received={} live={live}", stats.received);
    Ok(())
}

/// Whether the test pattern's counter matches the frame's sequence number.
fn pixels_ok(frame: &Frame) -> bool {
    decode_counter(frame) == Some(frame.sequence() as u32)
}
