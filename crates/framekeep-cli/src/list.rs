//! `framekeep list`: every V4L2 capture device with its formats and sizes.

use std::process::ExitCode;

use framekeep_v4l::list_devices;

/// Prints the devices; none found is not an error.
pub fn run() -> ExitCode {
    let devices = list_devices();
    if devices.is_empty() {
        println!("no V4L2 capture device found under /dev/video*");
    }
    for d in devices {
        println!(
            "{}: {} ({}, {})",
            d.info.path,
            d.info.card,
            d.info.bus,
            if d.info.multiplanar {
                "multi-planar"
            } else {
                "single-planar"
            }
        );
        for f in d.formats {
            println!("  {f:?}");
        }
    }
    ExitCode::SUCCESS
}
