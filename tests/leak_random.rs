//! Randomized fault mixes: many small pipelines with random edge policies,
//! pool policies, stage faults, panic policies (escalate, restart, isolate)
//! and stop actions; every one must end within its bound with nothing leaked,
//! every buffer back in its pool, and every frame accounted for (the
//! conservation law: at each element and each edge, what came in went out or
//! was dropped with a reason).
//!
//! The seed is fixed (override with `FRAMEKEEP_SEED`, iterations with
//! `FRAMEKEEP_ITERATIONS`); a failure names the seed and iteration that
//! reproduce it.

mod common;

use std::thread;
use std::time::Duration;

use common::{assert_pool_idle, bounded, Fault, Faulty, SlowSink};
use framekeep::core::cancel::{CancelToken, Cause};
use framekeep::core::frame::PixelFormat;
use framekeep::core::pipeline::{Link, PipelineBuilder, SyntheticSource};
use framekeep::core::pool::{Exhausted, PoolOptions};
use framekeep::core::supervisor::{PanicPolicy, SupervisorOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DEFAULT_SEED: u64 = 0x5eed_f4a3_e2ee;
const DEFAULT_ITERATIONS: u64 = 40;
const LIMIT: Duration = Duration::from_secs(30);

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// How the test stops the pipeline.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// Let a finite source end the stream.
    EndOfStream,
    /// Cancel the root after a delay.
    CancelRoot(Duration),
    /// Close the source after a delay.
    CloseSource(Duration),
    /// Close the pool after a delay.
    ClosePool(Duration),
    /// Call shutdown after a delay.
    Shutdown(Duration),
}

#[derive(Debug)]
struct Mix {
    buffers: usize,
    exhausted: Exhausted,
    frames: Option<u64>,
    stages: Vec<(Link, Fault, Duration)>,
    sink_link: Link,
    sink_delay: Duration,
    sink_hold: usize,
    on_panic: PanicPolicy,
    stop: Stop,
}

fn random_link(rng: &mut StdRng) -> Link {
    let links = Link::all(rng.gen_range(1..=3));
    links[rng.gen_range(0..links.len())]
}

fn random_mix(rng: &mut StdRng) -> Mix {
    let buffers = rng.gen_range(2..=6);
    let exhausted = match rng.gen_range(0..3) {
        0 => Exhausted::Wait,
        1 => Exhausted::FailFast,
        _ => Exhausted::Grow {
            hard_cap: buffers + rng.gen_range(1..=4),
        },
    };
    let stages = (0..rng.gen_range(1..=3))
        .map(|_| {
            let at = rng.gen_range(1..=40);
            let fault = match rng.gen_range(0..10) {
                0 => Fault::Panic(at),
                1 => Fault::Error(at),
                2 => Fault::Cancel(at),
                _ => Fault::None,
            };
            let delay = Duration::from_micros(rng.gen_range(0..=500));
            (random_link(rng), fault, delay)
        })
        .collect();
    let after = Duration::from_millis(rng.gen_range(0..=30));
    let stop = match rng.gen_range(0..5) {
        0 => Stop::EndOfStream,
        1 => Stop::CancelRoot(after),
        2 => Stop::CloseSource(after),
        3 => Stop::ClosePool(after),
        _ => Stop::Shutdown(after),
    };
    let on_panic = match rng.gen_range(0..3) {
        0 => PanicPolicy::Escalate,
        1 => PanicPolicy::Restart {
            max_restarts: rng.gen_range(0..=2),
            window: Duration::from_secs(60),
        },
        _ => PanicPolicy::Isolate,
    };
    Mix {
        buffers,
        exhausted,
        frames: matches!(stop, Stop::EndOfStream).then(|| rng.gen_range(1..=150)),
        stages,
        sink_link: random_link(rng),
        sink_delay: Duration::from_micros(rng.gen_range(0..=800)),
        sink_hold: rng.gen_range(0..=2).min(buffers - 1),
        on_panic,
        stop,
    }
}

fn run(mix: Mix) {
    let layout = common::small_layout();
    let pool = PoolOptions::new(layout)
        .name("random")
        .min_buffers(mix.buffers)
        .max_buffers(mix.buffers)
        .exhausted(mix.exhausted)
        .acquire_timeout(Duration::from_millis(20))
        .build()
        .expect("pool");
    let root = CancelToken::new();
    let mut source = SyntheticSource::builder(PixelFormat::Bgr24, 64, 48).pool(pool.clone());
    if let Some(n) = mix.frames {
        source = source.frames(n);
    }
    let mut builder = PipelineBuilder::new("random")
        .with_cancel(&root)
        .supervisor_options(SupervisorOptions::new().on_panic(mix.on_panic))
        .source("src", source.build().expect("source"));
    for (i, (link, fault, delay)) in mix.stages.iter().enumerate() {
        let stage = Faulty::new(*fault).delay(*delay).cancelling(&root);
        builder = builder.stage(format!("s{i}"), *link, stage);
    }
    let sink = SlowSink::new(mix.sink_delay).hold(mix.sink_hold);
    let pipeline = builder
        .sink("sink", mix.sink_link, sink)
        .start()
        .expect("start");
    match mix.stop {
        Stop::EndOfStream => {}
        Stop::CancelRoot(after) => {
            thread::sleep(after);
            root.cancel_with(Cause::Interrupted);
        }
        Stop::CloseSource(after) => {
            thread::sleep(after);
            pipeline.close_source();
        }
        Stop::ClosePool(after) => {
            thread::sleep(after);
            pool.close();
        }
        Stop::Shutdown(after) => thread::sleep(after),
    }
    if !matches!(mix.stop, Stop::Shutdown(_)) {
        // Every stop action (or a fault) must end the pipeline by itself.
        assert!(
            pipeline.wait(Duration::from_secs(10)),
            "the pipeline did not end by itself"
        );
    }
    let report = pipeline.shutdown();
    assert!(
        report.supervisor.timed_out().next().is_none(),
        "a worker did not stop: {report}"
    );
    assert!(report.balances(), "frames unaccounted for: {report}");
    let produced = report.elements[0].1.frames_in;
    let delivered = report.elements.last().unwrap().1.frames_out;
    let created: u64 = report.elements.iter().map(|(_, s)| s.created).sum();
    assert_eq!(
        produced + created,
        delivered + report.dropped().total(),
        "produced + created = delivered + dropped: {report}"
    );
    let panicked = mix
        .stages
        .iter()
        .any(|(_, f, _)| matches!(f, Fault::Panic(_)));
    if !panicked {
        assert_eq!(report.supervisor.panics().count(), 0, "{report}");
    }
    assert_pool_idle(&pool);
}

#[test]
fn random_fault_mixes_leak_nothing() {
    let seed = env_u64("FRAMEKEEP_SEED", DEFAULT_SEED);
    let iterations = env_u64("FRAMEKEEP_ITERATIONS", DEFAULT_ITERATIONS);
    for i in 0..iterations {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(i));
        let mix = random_mix(&mut rng);
        let name = format!(
            "seed {seed} iteration {i} (rerun: FRAMEKEEP_SEED={} FRAMEKEEP_ITERATIONS=1): {mix:?}",
            seed.wrapping_add(i)
        );
        bounded(&name, LIMIT, move || run(mix));
    }
}
