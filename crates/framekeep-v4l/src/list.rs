//! Finding cameras: list every capture node with its formats, open one by name or bus.
//!
//! USB cameras come and go and their `/dev/videoN` numbers change between boots, so
//! applications should select by card name or bus info; this module resolves such a
//! selector to a node. Nodes that cannot capture video (e.g. uvcvideo's metadata nodes)
//! are left out.

use std::path::PathBuf;

use crate::device::{CaptureDevice, DeviceInfo, FormatInfo};
use crate::error::{CaptureError, Result};
use crate::v4l2_device::V4l2Device;

/// One capture device and what it offers.
#[derive(Clone, Debug)]
pub struct DeviceListing {
    /// Node path, driver, card and bus.
    pub info: DeviceInfo,
    /// Formats with their sizes and frame intervals.
    pub formats: Vec<FormatInfo>,
}

fn video_nodes() -> Vec<PathBuf> {
    let mut nodes: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix("video")?.parse::<u32>().ok()?;
            Some((n, e.path()))
        })
        .collect();
    nodes.sort();
    nodes.into_iter().map(|(_, p)| p).collect()
}

/// Every V4L2 video capture node, in `/dev/videoN` order, with its formats. Nodes that
/// fail to open (busy, permission) are skipped.
pub fn list_devices() -> Vec<DeviceListing> {
    video_nodes()
        .into_iter()
        .filter_map(|p| V4l2Device::open(&p).ok())
        .map(|d| DeviceListing {
            info: d.info(),
            formats: d.formats().unwrap_or_default(),
        })
        .collect()
}

/// Opens a capture device: `selector` is a path (starts with `/`), or else matched
/// against bus info (exactly) and then card name (case-insensitive substring).
pub fn open_device(selector: &str) -> Result<V4l2Device> {
    if selector.starts_with('/') {
        return V4l2Device::open(selector);
    }
    let wanted = selector.to_lowercase();
    let mut by_card = None;
    for p in video_nodes() {
        let Ok(dev) = V4l2Device::open(&p) else {
            continue;
        };
        let info = dev.info();
        if info.bus == selector {
            return Ok(dev);
        }
        if by_card.is_none() && info.card.to_lowercase().contains(&wanted) {
            by_card = Some(dev);
        }
    }
    by_card.ok_or_else(|| CaptureError::NotFound(selector.to_string()))
}
