//! `framekeep-vivid`: runs inside the vivid VM (see `vm/vivid-vm.sh`).
//!
//! * `framekeep-vivid check [DEVICE[=FILTER][,DEVICE[=FILTER]...]] [FILTER]`: the
//!   conformance cases against real V4L2 nodes (e.g. a single-planar and a multi-planar
//!   vivid instance), those whose name contains the device's filter (else the common one);
//!   per device a `DEVICE <path>` line, then one `CASE <name> ok|FAIL <ms> <detail>` line
//!   each; exit 1 if any failed.
//! * `framekeep-vivid bench [DEVICE] [FRAMES] [SEGMENTS]`: CPU time per frame (user+sys
//!   from `getrusage`, steady state) at 1280x720 YUYV for framekeep zero-copy capture into a
//!   null consumer (mmap, and `V4L2_MEMORY_USERPTR` into pooled frames), framekeep with
//!   user memory refused (mmap plus one copy per frame into a pooled frame), a bare `v4l`
//!   crate mmap loop, `v4l2-ctl --stream-mmap=4`, and GStreamer's `v4l2src ! fakesink`
//!   when `gst-launch-1.0` is in the VM (`vm/bench.sh`).
//! * `framekeep-vivid bench-job DEVICE RUNS SKIP_SECONDS FRAMES WxH:FPS[,...] -- NAME=COMMAND...`:
//!   steady-state CPU per frame and context switches per frame of whole programs (the main
//!   job and its peers, `vm/main-job-bench.sh`): every thread of each program is sampled
//!   from `/proc` SKIP_SECONDS after its start and again FRAMES frames later, so start-up
//!   and teardown stay out; RUNS times per size, in rotated order. Each run also prints the
//!   first program's CPU against the better of the next two (its peers).
//! * `framekeep-vivid list`: every capture device with its formats and sizes.

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use framekeep_core::frame::{FrameError, FrameLayout, PixelFormat};
use framekeep_core::pool::{FramePool, PoolError};
use framekeep_v4l::testing::{run_cases, CaseFailure, NodeRig};
use framekeep_v4l::{
    list_devices, open_device, BufferMode, CaptureDevice, CaptureError, CaptureStream,
    FormatRequest, FourCc, StreamOptions,
};

/// Frames captured before the measurement starts (stream start-up, page faults).
const WARMUP: u32 = 5;

/// CPU time of the whole process and of the calling (capture) thread.
#[derive(Clone, Copy)]
struct Cpu {
    process: Duration,
    thread: Duration,
}

impl Cpu {
    fn now() -> Cpu {
        Cpu {
            process: cpu_time(libc::RUSAGE_SELF),
            thread: cpu_time(libc::RUSAGE_THREAD),
        }
    }

    fn since(self, t0: Cpu) -> Cpu {
        Cpu {
            process: self.process.saturating_sub(t0.process),
            thread: self.thread.saturating_sub(t0.thread),
        }
    }
}

/// One benchmarked capture method: CPU time for `frames` steady-state frames.
type Bench = fn(&str, u32) -> Result<Cpu, BenchError>;

/// Why a benchmarked method gave no figure.
#[derive(Debug, thiserror::Error)]
enum BenchError {
    /// framekeep's capture failed.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// The pool of user buffers could not be made.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The layout of the user buffers was refused.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A call of the bare `v4l` loop, or starting a tool or a child, failed.
    #[error("{what}: {source}")]
    Io {
        /// The call.
        what: String,
        /// Its error.
        #[source]
        source: io::Error,
    },
    /// The method ran but not as the benchmark needs (a tool's exit status, a copy, no
    /// result line).
    #[error("{0}")]
    Failed(String),
}

/// Names the call an `io::Error` came from.
fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> BenchError {
    let what = what.into();
    move |source| BenchError::Io { what, source }
}

fn cpu_time(who: i32) -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a full rusage into the valid pointer; zeroed is a valid rusage.
    let ru = unsafe {
        libc::getrusage(who, ru.as_mut_ptr());
        ru.assume_init()
    };
    let tv = |t: libc::timeval| {
        Duration::new(t.tv_sec as u64, 0) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn request() -> FormatRequest {
    FormatRequest::new(FourCc::YUYV, 1280, 720).fps(25)
}

fn bench_framekeep(dev: &str, frames: u32) -> Result<Cpu, BenchError> {
    let mut st = CaptureStream::open(dev, StreamOptions::new().format(request()))?;
    let mut sink = 0usize;
    for _ in 0..WARMUP {
        sink ^= st.next_frame()?.data().len();
    }
    let t0 = Cpu::now();
    for _ in 0..frames {
        let f = st.next_frame()?;
        sink ^= std::hint::black_box(f.data()).len();
    }
    let cpu = Cpu::now().since(t0);
    let stats = st.close()?;
    eprintln!("  framekeep: {stats} (sink {sink})");
    if stats.copied != 0 {
        return Err(BenchError::Failed(format!(
            "framekeep copied {} frames",
            stats.copied
        )));
    }
    Ok(cpu)
}

/// framekeep into frames of a pool (`user_buffers`): with `V4L2_MEMORY_USERPTR` (zero
/// copy), or, when `refuse` injects vivid's one-shot `VIDIOC_REQBUFS` error into the user
/// memory request, with mmap buffers and one copy per frame into a pool frame.
fn bench_user(dev: &str, frames: u32, refuse: bool) -> Result<Cpu, BenchError> {
    // 4 queued + the one being delivered + slack; every page touched before streaming.
    let pool = FramePool::options(FrameLayout::packed(PixelFormat::Yuyv, 1280, 720)?)
        .name("bench user buffers")
        .min_buffers(8)
        .max_buffers(8)
        .prefault(true)
        .build()?;
    let mut opts = StreamOptions::new()
        .format(request())
        .user_buffers(pool.clone());
    if refuse {
        opts = opts.control("inject_vidioc_reqbufs_error", 1);
    }
    let mut st = CaptureStream::open(dev, opts)?;
    let (want, copies) = if refuse {
        (BufferMode::MmapCopy, u64::from(WARMUP + frames))
    } else {
        (BufferMode::UserPtr, 0)
    };
    if st.negotiated().memory != want {
        return Err(BenchError::Failed(format!(
            "expected {want}, got {}",
            st.negotiated()
        )));
    }
    let mut sink = 0usize;
    for _ in 0..WARMUP {
        sink ^= st.next_frame()?.data().len();
    }
    let t0 = Cpu::now();
    for _ in 0..frames {
        let f = st.next_frame()?;
        sink ^= std::hint::black_box(f.data()).len();
    }
    let cpu = Cpu::now().since(t0);
    let stats = st.close()?;
    eprintln!("  framekeep {want}: {stats} (sink {sink})");
    if stats.copied != copies || stats.repinned != 0 {
        return Err(BenchError::Failed(format!(
            "framekeep {want}: {stats}, expected {copies} copies and no repins"
        )));
    }
    Ok(cpu)
}

fn bench_userptr(dev: &str, frames: u32) -> Result<Cpu, BenchError> {
    bench_user(dev, frames, false)
}

fn bench_mmap_copy(dev: &str, frames: u32) -> Result<Cpu, BenchError> {
    bench_user(dev, frames, true)
}

fn bench_bare(dev: &str, frames: u32) -> Result<Cpu, BenchError> {
    bare_loop(dev, frames, None)
}

/// The bare loop with the poll timeout framekeep always uses (never block forever).
fn bench_bare_timeout(dev: &str, frames: u32) -> Result<Cpu, BenchError> {
    bare_loop(dev, frames, Some(Duration::from_secs(2)))
}

fn bare_loop(dev: &str, frames: u32, timeout: Option<Duration>) -> Result<Cpu, BenchError> {
    use v4l::buffer::Type;
    use v4l::io::traits::CaptureStream as _;
    use v4l::video::Capture;
    let d = v4l::Device::with_path(dev).map_err(io_err(format!("open {dev}")))?;
    let mut fmt = d.format().map_err(io_err("VIDIOC_G_FMT"))?;
    fmt.fourcc = v4l::FourCC::new(b"YUYV");
    fmt.width = 1280;
    fmt.height = 720;
    fmt.stride = 0;
    fmt.size = 0;
    d.set_format(&fmt).map_err(io_err("VIDIOC_S_FMT"))?;
    d.set_params(&v4l::video::capture::Parameters::with_fps(25))
        .map_err(io_err("VIDIOC_S_PARM"))?;
    let mut stream = v4l::io::mmap::Stream::with_buffers(&d, Type::VideoCapture, 4)
        .map_err(io_err("mmap stream"))?;
    if let Some(t) = timeout {
        stream.set_timeout(t);
    }
    let mut sink = 0usize;
    for _ in 0..WARMUP {
        let (buf, meta) = stream.next().map_err(io_err("next frame"))?;
        sink ^= buf[..meta.bytesused as usize].len();
    }
    let t0 = Cpu::now();
    for _ in 0..frames {
        let (buf, meta) = stream.next().map_err(io_err("next frame"))?;
        sink ^= std::hint::black_box(&buf[..meta.bytesused as usize]).len();
    }
    let cpu = Cpu::now().since(t0);
    eprintln!("  bare v4l loop: sink {sink}");
    Ok(cpu)
}

fn v4l2_ctl(dev: &str, count: u32) -> Result<Duration, BenchError> {
    let t0 = cpu_time(libc::RUSAGE_CHILDREN);
    let st = std::process::Command::new("v4l2-ctl")
        .args([
            "-d",
            dev,
            "--stream-mmap=4",
            "--stream-to=/dev/null",
            &format!("--stream-count={count}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(io_err("v4l2-ctl"))?;
    if !st.success() {
        return Err(BenchError::Failed(format!("v4l2-ctl exited with {st}")));
    }
    Ok(cpu_time(libc::RUSAGE_CHILDREN) - t0)
}

fn bench_v4l2_ctl(dev: &str, frames: u32) -> Result<Cpu, BenchError> {
    // Same format and rate as the others; steady state = long run minus a warm-up-only run.
    let st = std::process::Command::new("v4l2-ctl")
        .args([
            "-d",
            dev,
            "--set-fmt-video=width=1280,height=720,pixelformat=YUYV",
            "--set-parm=25",
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(io_err("v4l2-ctl"))?;
    if !st.success() {
        return Err(BenchError::Failed(format!(
            "v4l2-ctl --set-fmt-video exited with {st}"
        )));
    }
    let short = v4l2_ctl(dev, WARMUP)?;
    let long = v4l2_ctl(dev, WARMUP + frames)?;
    let cpu = long.saturating_sub(short);
    Ok(Cpu {
        process: cpu,
        thread: cpu,
    })
}

/// Where `vm/bench.sh` puts GStreamer's two plugins (v4l2src, fakesink) in the VM: their
/// Debian path, so nothing else on the host's plugin path is scanned.
const GST_PLUGINS: &str = "/usr/lib/x86_64-linux-gnu/gstreamer-1.0";
/// GStreamer's plugin registry, in the VM's writable /tmp. It is built by the first run
/// (`gst_unavailable`), before anything is measured, so every measured run only reads it.
const GST_REGISTRY: &str = "/tmp/framekeep-gst-registry.bin";

/// CPU time of one `gst-launch-1.0 v4l2src ! fakesink` run of `buffers` frames (all its
/// threads, as it ends before we look).
fn gst_launch(dev: &str, buffers: u32) -> Result<Duration, BenchError> {
    let t0 = cpu_time(libc::RUSAGE_CHILDREN);
    let out = std::process::Command::new("gst-launch-1.0")
        .args([
            "-q",
            "v4l2src",
            &format!("device={dev}"),
            &format!("num-buffers={buffers}"),
            "!",
            // The format and rate the other methods get: they ask for 25 fps and vivid gives
            // its top 1280x720 rate, 12.5; caps must name a rate the driver lists.
            "video/x-raw,format=YUY2,width=1280,height=720,framerate=25/2",
            "!",
            "fakesink",
        ])
        .env("GST_PLUGIN_SYSTEM_PATH", GST_PLUGINS)
        .env("GST_REGISTRY", GST_REGISTRY)
        // Scan plugins in-process: no gst-plugin-scanner helper to copy into the VM.
        .env("GST_REGISTRY_FORK", "no")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => io_err(
                "gst-launch-1.0 is not in the VM (vm/bench.sh copies it when gstreamer1.0-tools and gstreamer1.0-plugins-good are installed)",
            )(e),
            _ => io_err("gst-launch-1.0")(e),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().take(3).collect::<Vec<_>>();
        return Err(BenchError::Failed(format!(
            "gst-launch-1.0 exited with {}: {}",
            out.status,
            last.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    Ok(cpu_time(libc::RUSAGE_CHILDREN) - t0)
}

/// Why GStreamer cannot be measured here, if it cannot: one short run, which also builds
/// the plugin registry so that no measured run pays for it.
fn gst_unavailable(dev: &str) -> Option<BenchError> {
    gst_launch(dev, 1).err()
}

fn bench_gst(dev: &str, frames: u32) -> Result<Cpu, BenchError> {
    if !std::path::Path::new(GST_REGISTRY).exists() {
        if let Some(why) = gst_unavailable(dev) {
            return Err(why);
        }
    }
    // Steady state as for v4l2-ctl: a long run minus a warm-up-only run, so start-up
    // (loading plugins, probing the device, negotiating caps) and teardown cancel out.
    let short = gst_launch(dev, WARMUP)?;
    let long = gst_launch(dev, WARMUP + frames)?;
    let cpu = long.saturating_sub(short);
    // One figure for the whole process: its streaming thread cannot be told apart from
    // outside, so the "capture thread" column repeats it.
    Ok(Cpu {
        process: cpu,
        thread: cpu,
    })
}

const METHODS: [(&str, Bench); 7] = [
    ("bare", bench_bare),
    ("bare+timeout", bench_bare_timeout),
    ("framekeep", bench_framekeep),
    ("userptr", bench_userptr),
    ("mmap+copy", bench_mmap_copy),
    ("v4l2-ctl", bench_v4l2_ctl),
    ("gstreamer", bench_gst),
];

/// Runs one method in this (fresh) process and prints `RESULT <process ms> <thread ms>` per
/// frame: each method gets its own process, so that no method pays for another's
/// background threads.
fn bench_one(method: &str, dev: &str, frames: u32) -> ExitCode {
    let Some((_, f)) = METHODS.iter().find(|m| m.0 == method) else {
        eprintln!("unknown method {method}");
        return ExitCode::from(2);
    };
    match f(dev, frames) {
        Ok(cpu) => {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0 / f64::from(frames);
            println!("RESULT {:.4} {:.4}", ms(cpu.process), ms(cpu.thread));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{method}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_child(method: &str, dev: &str, frames: u32) -> Result<(f64, f64), BenchError> {
    let exe = std::env::current_exe().map_err(io_err("current_exe"))?;
    let out = std::process::Command::new(exe)
        .args(["bench-one", method, dev, &frames.to_string()])
        .output()
        .map_err(io_err(format!("bench-one {method}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| {
            BenchError::Failed(format!(
                "no result ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        })?;
    let v: Vec<f64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    match v[..] {
        [p, t] => Ok((p, t)),
        _ => Err(BenchError::Failed(format!("bad result line {line:?}"))),
    }
}

fn bench(dev: &str, frames: u32, segments: u32) -> ExitCode {
    // Guest CPU time includes time a vCPU was preempted on a busy host, so the frames are
    // measured in short interleaved segments (every method once per segment, each in its
    // own process) and the median and minimum segments are reported next to the mean.
    let segments = segments.max(1);
    let per = (frames / segments).max(1);
    println!(
        "BENCH 1280x720 YUYV, {} frames per method in {segments} interleaved segments of {per} (after {WARMUP} warm-up frames each); ms CPU (user+sys) per frame: whole process / capture thread",
        per * segments
    );
    // GStreamer is optional in the VM: without it the other methods still run.
    let gst_missing = gst_unavailable(dev);
    if let Some(why) = &gst_missing {
        println!("BENCH gstreamer: skipped: {why}");
    }
    let mut samples: Vec<Vec<(f64, f64)>> = vec![Vec::new(); METHODS.len()];
    let mut ok = true;
    for seg in 1..=segments {
        let mut line = format!("BENCH segment {seg}:");
        for (i, (name, _)) in METHODS.iter().enumerate() {
            if *name == "gstreamer" && gst_missing.is_some() {
                continue;
            }
            match run_child(name, dev, per) {
                Ok((p, t)) => {
                    samples[i].push((p, t));
                    line += &format!(" {name} {p:.4}/{t:.4}");
                }
                Err(e) => {
                    ok = false;
                    line += &format!(" {name} ERROR({e})");
                }
            }
        }
        println!("{line}");
    }
    let stat = |v: &[(f64, f64)], pick: fn(&(f64, f64)) -> f64| -> (f64, f64, f64) {
        let mut x: Vec<f64> = v.iter().map(pick).collect();
        x.sort_by(f64::total_cmp);
        (x.iter().sum::<f64>() / x.len() as f64, x[x.len() / 2], x[0])
    };
    let mut means = Vec::new();
    for (i, (name, _)) in METHODS.iter().enumerate() {
        if samples[i].is_empty() {
            continue;
        }
        let (pm, pmed, pmin) = stat(&samples[i], |s| s.0);
        let (tm, tmed, tmin) = stat(&samples[i], |s| s.1);
        println!("BENCH {name}: process mean {pm:.4} median {pmed:.4} min {pmin:.4} | capture thread mean {tm:.4} median {tmed:.4} min {tmin:.4}");
        means.push((*name, pm, tm, pmed, tmed));
    }
    for (num, den) in [
        ("framekeep", "bare"),
        ("userptr", "mmap+copy"),
        ("userptr", "framekeep"),
    ] {
        if let (Some(b), Some(f)) = (
            means.iter().find(|m| m.0 == den),
            means.iter().find(|m| m.0 == num),
        ) {
            println!(
                "BENCH {num}/{den}: process mean {:.2} median {:.2} | capture thread mean {:.2} median {:.2}",
                f.1 / b.1.max(1e-9),
                f.3 / b.3.max(1e-9),
                f.2 / b.2.max(1e-9),
                f.4 / b.4.max(1e-9)
            );
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One thread of a running program, as `/proc/PID/task/TID` shows it.
#[derive(Clone, Default)]
struct TaskSample {
    name: String,
    /// Time on a CPU, nanoseconds (`schedstat`, else `stat`'s utime+stime ticks).
    cpu_ns: u64,
    voluntary: u64,
    involuntary: u64,
}

/// Every thread of process `pid` now, by thread id.
fn sample_tasks(pid: u32) -> std::collections::BTreeMap<u32, TaskSample> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let read = |f: &str| std::fs::read_to_string(path.join(f)).unwrap_or_default();
        let status = read("status");
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        let cpu_ns = read("schedstat")
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| {
                // utime and stime: fields 14 and 15, counted after the ")" closing comm.
                let stat = read("stat");
                let rest = stat.rsplit_once(')').map_or("", |r| r.1);
                let f: Vec<u64> = rest
                    .split_whitespace()
                    .map(|x| x.parse().unwrap_or(0))
                    .collect();
                // SAFETY: sysconf has no preconditions.
                let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
                (f.get(11).unwrap_or(&0) + f.get(12).unwrap_or(&0)) * 1_000_000_000 / hz
            });
        out.insert(
            tid,
            TaskSample {
                name: read("comm").trim().to_string(),
                cpu_ns,
                voluntary: field("voluntary_ctxt_switches:"),
                involuntary: field("nonvoluntary_ctxt_switches:"),
            },
        );
    }
    out
}

/// One program of `bench-job`: a name and a command template. The template is split on
/// spaces; leading `VAR=value` words set environment variables; `{dev}`, `{w}`, `{h}`,
/// `{fps}` (e.g. `12.5`), `{fps_int}` (rounded up: `13`), `{fps_frac}` (e.g. `25/2`) and
/// `{frames}` are filled in.
struct Job {
    name: String,
    template: String,
}

/// A size to run at and the rate asked for there.
#[derive(Clone, Copy)]
struct JobSize {
    width: u32,
    height: u32,
    fps: f64,
}

impl JobSize {
    fn parse(s: &str) -> Option<JobSize> {
        let (size, fps) = s.split_once(':')?;
        let (w, h) = size.split_once('x')?;
        Some(JobSize {
            width: w.parse().ok()?,
            height: h.parse().ok()?,
            fps: fps.parse().ok().filter(|f: &f64| *f > 0.0)?,
        })
    }

    /// The rate as GStreamer writes it: `25/1`, `25/2`.
    fn fps_frac(&self) -> String {
        let den = if self.fps.fract() == 0.0 { 1 } else { 2 };
        format!("{}/{den}", (self.fps * f64::from(den)).round())
    }
}

/// A started program whose standard error is collected on the side.
struct Running {
    name: String,
    child: std::process::Child,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Running {
    fn start(job: &Job, dev: &str, size: JobSize, frames: u32) -> Result<Running, String> {
        let filled = job
            .template
            .replace("{dev}", dev)
            .replace("{w}", &size.width.to_string())
            .replace("{h}", &size.height.to_string())
            .replace("{fps_frac}", &size.fps_frac())
            .replace("{fps_int}", &(size.fps.ceil() as u32).to_string())
            .replace("{fps}", &size.fps.to_string())
            .replace("{frames}", &frames.to_string());
        let mut words = filled.split_whitespace().peekable();
        let mut env = Vec::new();
        while let Some((k, v)) = words.peek().and_then(|w| w.split_once('=')) {
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                break;
            }
            env.push((k.to_string(), v.to_string()));
            words.next();
        }
        let program = words.next().ok_or(format!("{}: empty command", job.name))?;
        let mut child = std::process::Command::new(program)
            .args(words)
            .envs(env)
            .env("GST_PLUGIN_SYSTEM_PATH", GST_PLUGINS)
            .env("GST_REGISTRY", GST_REGISTRY)
            .env("GST_REGISTRY_FORK", "no")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {program}: {e}", job.name))?;
        let pipe = child.stderr.take();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut e) = pipe {
                let _ = std::io::Read::read_to_string(&mut e, &mut text);
            }
            text
        });
        Ok(Running {
            name: job.name.clone(),
            child,
            stderr: Some(stderr),
        })
    }

    /// Waits for the end (at most `limit`); an error says how it ended badly.
    fn finish(mut self, limit: Duration) -> Result<(), String> {
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            match self.child.try_wait().map_err(|e| e.to_string())? {
                Some(st) => break st,
                None if std::time::Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err(format!("{}: no end within {limit:?}", self.name));
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        if status.success() {
            return Ok(());
        }
        let tail = self.error_tail();
        Err(format!("{} exited with {status}: {tail}", self.name))
    }

    fn error_tail(&mut self) -> String {
        let err = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let last: Vec<&str> = err.lines().rev().take(3).collect();
        last.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Steady state of one program: per frame CPU ms, voluntary and involuntary switches, and
/// the same three for each thread (`name[tid]`).
struct Window {
    per_frame: [f64; 3],
    threads: Vec<(String, [f64; 3])>,
}

/// Starts `job`, lets it run `skip` (start-up: loading, probing, negotiating, first
/// frames), then measures every thread of it over the time vivid takes to deliver
/// `frames` frames at `size.fps`, and stops it.
fn window(
    job: &Job,
    dev: &str,
    size: JobSize,
    skip: Duration,
    frames: u32,
) -> Result<Window, String> {
    let span = Duration::from_secs_f64(f64::from(frames) / size.fps);
    // Enough frames that the program is still running when the window closes.
    let total = frames + ((skip.as_secs_f64() + 30.0) * size.fps) as u32;
    let mut run = Running::start(job, dev, size, total)?;
    std::thread::sleep(skip);
    let pid = run.child.id();
    let before = sample_tasks(pid);
    std::thread::sleep(span);
    let after = sample_tasks(pid);
    if let Ok(Some(st)) = run.child.try_wait() {
        let tail = run.error_tail();
        return Err(format!(
            "{} ended before the window closed ({st}): {tail}",
            run.name
        ));
    }
    drop(run);
    if after.is_empty() {
        return Err(format!("{}: no threads to sample", job.name));
    }
    let n = f64::from(frames);
    let mut per_frame = [0.0; 3];
    let mut threads: Vec<(String, [f64; 3])> = Vec::new();
    for (tid, a) in &after {
        let b = before.get(tid).cloned().unwrap_or_default();
        let d = [
            a.cpu_ns.saturating_sub(b.cpu_ns) as f64 / 1e6 / n,
            a.voluntary.saturating_sub(b.voluntary) as f64 / n,
            a.involuntary.saturating_sub(b.involuntary) as f64 / n,
        ];
        for i in 0..3 {
            per_frame[i] += d[i];
        }
        threads.push((format!("{}[{tid}]", a.name), d));
    }
    Ok(Window { per_frame, threads })
}

fn bench_job(args: &[String]) -> ExitCode {
    let usage = "bench-job DEVICE RUNS SKIP_SECONDS FRAMES WxH:FPS[,WxH:FPS...] -- NAME=COMMAND...";
    let Some(split) = args.iter().position(|a| a == "--") else {
        eprintln!("usage: {usage}");
        return ExitCode::from(2);
    };
    let (head, jobs) = (&args[..split], &args[split + 1..]);
    let (Some(dev), Some(runs), Some(skip), Some(frames), Some(sizes)) = (
        head.first(),
        head.get(1).and_then(|n| n.parse::<u32>().ok()),
        head.get(2)
            .and_then(|n| n.parse::<f64>().ok())
            .filter(|s| *s >= 0.0),
        head.get(3).and_then(|n| n.parse::<u32>().ok()),
        head.get(4)
            .and_then(|s| s.split(',').map(JobSize::parse).collect::<Option<Vec<_>>>()),
    ) else {
        eprintln!("usage: {usage}");
        return ExitCode::from(2);
    };
    let skip = Duration::from_secs_f64(skip);
    let jobs: Vec<Job> = jobs
        .iter()
        .filter_map(|j| j.split_once('='))
        .map(|(n, t)| Job {
            name: n.to_string(),
            template: t.to_string(),
        })
        .collect();
    if jobs.is_empty() || frames == 0 || runs == 0 {
        eprintln!("usage: {usage}");
        return ExitCode::from(2);
    }
    println!(
        "JOB steady state per frame: every thread of each program sampled from /proc {skip:?} after its start and again {frames} frames later (at the size's frame rate); {runs} runs per size, in rotated order; columns: CPU ms (all threads) / voluntary / involuntary context switches"
    );
    let mut ok = true;
    for size in &sizes {
        let tag = format!("{}x{}@{}", size.width, size.height, size.fps);
        // One short untimed run each: GStreamer's registry, the page cache, and a
        // program that cannot run here is reported before anything is measured.
        for job in &jobs {
            let done =
                Running::start(job, dev, *size, 3).and_then(|r| r.finish(Duration::from_secs(120)));
            if let Err(e) = done {
                ok = false;
                println!("JOB {tag} {} warm-up ERROR({e})", job.name);
            }
        }
        let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); jobs.len()];
        for run in 0..runs as usize {
            let mut line = format!("JOB {tag} run {}:", run + 1);
            for k in 0..jobs.len() {
                let i = (k + run) % jobs.len();
                match window(&jobs[i], dev, *size, skip, frames) {
                    Ok(w) => {
                        let [c, v, inv] = w.per_frame;
                        cpu[i].push(c);
                        line += &format!(" {} {c:.3}/{v:.2}/{inv:.2}", jobs[i].name);
                        let threads: Vec<String> = w
                            .threads
                            .iter()
                            .map(|(n, [c, v, inv])| format!("{n} {c:.3}/{v:.2}/{inv:.2}"))
                            .collect();
                        println!(
                            "THREADS {tag} run {} {}: {}",
                            run + 1,
                            jobs[i].name,
                            threads.join(", ")
                        );
                    }
                    Err(e) => {
                        ok = false;
                        line += &format!(" {} ERROR({e})", jobs[i].name);
                    }
                }
            }
            println!("{line}");
            // The first program against the better of its peers (the next two), in this run.
            let peers = 1..jobs.len().min(3);
            if !peers.is_empty() && cpu.iter().all(|c| c.len() == run + 1) {
                let best = cpu[peers.clone()]
                    .iter()
                    .map(|c| c[run])
                    .fold(f64::INFINITY, f64::min);
                let names: Vec<&str> = jobs[peers].iter().map(|j| j.name.as_str()).collect();
                println!(
                    "JOB {tag} run {}: {} / best of {} = {:.3}",
                    run + 1,
                    jobs[0].name,
                    names.join(", "),
                    cpu[0][run] / best
                );
            }
        }
        for (i, job) in jobs.iter().enumerate() {
            if !cpu[i].is_empty() {
                let mean = cpu[i].iter().sum::<f64>() / cpu[i].len() as f64;
                println!(
                    "JOB {tag} {}: mean {mean:.3} ms/frame over {} runs",
                    job.name,
                    cpu[i].len()
                );
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A failed check of the lookup case.
fn lookup_failed(what: String) -> CaseFailure {
    CaseFailure::Check(what)
}

/// Listing and lookup by card name and bus info must find the node the cases use.
fn check_lookup(dev: &str) -> Result<String, CaseFailure> {
    let listed = list_devices();
    let me = listed
        .iter()
        .find(|d| d.info.path == dev)
        .ok_or_else(|| lookup_failed(format!("{dev} not listed")))?;
    if me.formats.is_empty() {
        return Err(lookup_failed(format!("{dev} listed without formats")));
    }
    // A card name selects the first listed node whose card matches (several vivid
    // instances share the card name "vivid"); bus info is unique.
    let card = me.info.card.to_lowercase();
    let first_card = listed
        .iter()
        .find(|d| d.info.card.to_lowercase().contains(&card))
        .map_or(dev, |d| d.info.path.as_str());
    for (selector, want) in [
        (me.info.bus.as_str(), dev),
        (me.info.card.as_str(), first_card),
    ] {
        let found = open_device(selector).map_err(|source| CaseFailure::During {
            during: format!("open_device({selector:?})"),
            source,
        })?;
        if found.info().path != want {
            return Err(lookup_failed(format!(
                "open_device({selector:?}) opened {}, expected {want}",
                found.info().path
            )));
        }
    }
    match open_device("no such camera") {
        Err(CaptureError::NotFound(_)) => {}
        other => {
            return Err(lookup_failed(format!(
                "lookup of a missing camera gave {other:?}"
            )))
        }
    }
    Ok(format!(
        "{} devices; {} found by bus {:?} and card {:?}",
        listed.len(),
        dev,
        me.info.bus,
        me.info.card
    ))
}

fn check(devices: &str, filter: &str) -> ExitCode {
    let mut failed = 0;
    for spec in devices.split(',').filter(|d| !d.is_empty()) {
        let (dev, filter) = spec.split_once('=').unwrap_or((spec, filter));
        println!("DEVICE {dev}");
        failed += check_one(dev, filter);
    }
    println!("CASES DONE failed={failed}");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs the cases on one node; returns how many failed.
fn check_one(dev: &str, filter: &str) -> usize {
    let rig = NodeRig(dev.to_string());
    let mut failed = 0;
    if "open_by_name".contains(filter) {
        match check_lookup(dev) {
            Ok(d) => println!("CASE open_by_name ok 0 {d}"),
            Err(e) => {
                failed += 1;
                println!("CASE open_by_name FAIL 0 {e}");
            }
        }
    }
    for o in run_cases(&rig, filter) {
        let ms = o.elapsed.as_millis();
        match o.result {
            Ok(d) => println!("CASE {} ok {ms} {d}", o.name),
            Err(e) => {
                failed += 1;
                println!(
                    "CASE {} FAIL {ms} {}",
                    o.name,
                    e.to_string().replace('\n', " | ")
                );
            }
        }
    }
    failed
}

fn list() -> ExitCode {
    for d in list_devices() {
        println!(
            "{} {} ({}, {})",
            d.info.path, d.info.card, d.info.driver, d.info.bus
        );
        for f in d.formats {
            let sizes: Vec<String> = f
                .sizes
                .iter()
                .map(|s| {
                    format!(
                        "{}x{}@{:.1}",
                        s.width,
                        s.height,
                        s.intervals.iter().map(|i| i.fps()).fold(0.0, f64::max)
                    )
                })
                .collect();
            println!("  {} {}: {}", f.fourcc, f.description, sizes.join(" "));
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    match args.first().map(String::as_str) {
        Some("check") => check(&arg(1, "/dev/video0"), &arg(2, "")),
        Some("bench") => {
            let frames = arg(2, "300").parse().unwrap_or(300);
            let segments = arg(3, "6").parse().unwrap_or(6);
            bench(&arg(1, "/dev/video0"), frames, segments)
        }
        Some("bench-one") => match (args.get(1), args.get(3).and_then(|n| n.parse().ok())) {
            (Some(method), Some(frames)) => bench_one(method, &arg(2, "/dev/video0"), frames),
            _ => ExitCode::from(2),
        },
        Some("bench-job") => bench_job(&args[1..]),
        Some("list") => list(),
        _ => {
            eprintln!("usage: framekeep-vivid check [DEVICE[=FILTER][,DEVICE[=FILTER]...]] [FILTER] | bench [DEVICE] [FRAMES] [SEGMENTS] | bench-job DEVICE RUNS SKIP_SECONDS FRAMES WxH:FPS[,...] -- NAME=COMMAND... | list");
            ExitCode::from(2)
        }
    }
}
