//! Issue 11, finding 5, through the calib-mono binary: a truncated JPEG is an error naming
//! the file (not "skipped (board not found)"), a 16000x16000 PNG is refused from its
//! header against the first view's size (before it costs 1.5 GB), and an unwritable
//! output is reported by the path the user gave, on one line, without OpenCV's log.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{clean_up, copy_views, mono_set, s, scratch, stderr};
use framekeep_core::ledger::LeakCheck;

const BIN: &str = env!("CARGO_BIN_EXE_calib-mono");

/// `png` as a JPEG at quality 90, cut to `keep` of its length.
fn truncated_jpeg(png: &Path, jpeg: &Path, keep: f64) {
    let img = image::open(png).unwrap().to_rgb8();
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
        .encode_image(&img)
        .unwrap();
    bytes.truncate((bytes.len() as f64 * keep) as usize);
    std::fs::write(jpeg, bytes).unwrap();
}

#[test]
fn a_truncated_jpeg_is_an_error_naming_it_alone_or_in_a_set() {
    let check = LeakCheck::new();
    let (_, _, paths) = mono_set();
    let work = scratch("hostile-jpeg");
    let set = work.join("set");
    copy_views(&paths[..6], &set);
    let cut = set.join("view_06.jpg");
    truncated_jpeg(&paths[6], &cut, 0.6);
    let yml = work.join("cam.yml");
    let o = common::run(BIN, &[s(&set), "-b", "9x6", "-q", "-o", s(&yml)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("image {} is corrupt", cut.display())),
        "{err}"
    );
    assert!(!err.contains("board not found"), "{err}");
    assert!(!yml.exists());
    // Alone, it is named too.
    let alone = work.join("alone");
    std::fs::create_dir_all(&alone).unwrap();
    let only = alone.join("only.jpg");
    truncated_jpeg(&paths[0], &only, 0.5);
    let o = common::run(BIN, &[s(&alone), "-b", "9x6", "-q", "-o", s(&yml)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("image {} is corrupt", only.display())),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    clean_up(check, &[&work]);
}

/// A PNG whose header says `width x height` (8-bit gray) with one empty zlib block for
/// its image data: 67 bytes on disk.
fn huge_png(path: &Path, width: u32, height: u32) {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    std::fs::write(path, png).unwrap();
}

/// Runs the tool to its end; returns its exit code, stderr and peak resident memory (KiB).
// The child is reaped by wait4 (which also gives its rusage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str]) -> (Option<i32>, String, i64) {
    let child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut stderr = child.stderr.unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut s).unwrap();
        s
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped; status and usage are valid
    // out-pointers for the duration of the call.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    let code = std::process::ExitStatus::from_raw(status).code();
    (code, reader.join().unwrap(), usage.ru_maxrss)
}

#[test]
fn a_huge_png_is_refused_from_its_header_against_the_first_view() {
    let check = LeakCheck::new();
    let (_, _, paths) = mono_set();
    let work = scratch("hostile-huge");
    let set = work.join("set");
    copy_views(&paths[..6], &set);
    let huge = set.join("view_99.png");
    huge_png(&huge, 16000, 16000);
    let yml = work.join("cam.yml");
    let (code, err, max_rss_kib) = run_measured(&[s(&set), "-b", "9x6", "-q", "-o", s(&yml)]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("view_99.png is 16000x16000 but") && err.contains("view_00.png is 640x480"),
        "{err}"
    );
    // Refused from the header: nothing near the 256 MB (gray) or 768 MB (RGB) that
    // decoding it needs. (Decoding it first cost 1.48 GB.)
    assert!(
        max_rss_kib < 200 * 1024,
        "peak RSS {max_rss_kib} KiB: {err}"
    );
    // As the first view, it is refused against the limit, from its header too.
    let first = work.join("first");
    std::fs::create_dir_all(&first).unwrap();
    huge_png(&first.join("a.png"), 16000, 16000);
    std::fs::copy(&paths[0], first.join("b.png")).unwrap();
    let (code, err, max_rss_kib) = run_measured(&[s(&first), "-b", "9x6", "-q", "-o", s(&yml)]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("a.png is 16000x16000, larger than the limit"),
        "{err}"
    );
    assert!(
        max_rss_kib < 200 * 1024,
        "peak RSS {max_rss_kib} KiB: {err}"
    );
    clean_up(check, &[&work]);
}

#[test]
fn an_unwritable_output_is_named_as_given_on_one_line() {
    let check = LeakCheck::new();
    let (set, _, _) = mono_set();
    // Not even root may create files at the top of sysfs.
    let target = Path::new("/sys/framekeep-cam.yml");
    let o = common::run(BIN, &[s(set), "-b", "9x6", "-q", "-o", s(target)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        err.trim_end(),
        "calib-mono: error: cannot write /sys/framekeep-cam.yml: Permission denied (os error 13)"
    );
    check.finish().expect("no Mat or thread left alive");
}
