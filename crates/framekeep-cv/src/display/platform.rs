//! Is there a display Qt can open, without letting Qt find out the hard way?
//!
//! OpenCV's highgui on Debian is Qt 5, and Qt calls `abort()` when its platform plugin
//! cannot connect ("could not connect to display"): a test or a server would die with
//! no error to handle. So before the GUI thread first touches highgui, this module
//! checks the environment itself: `QT_QPA_PLATFORM=offscreen` needs nothing; `DISPLAY`
//! must name an X server that accepts a connection (a plain socket connect, no X
//! protocol); `WAYLAND_DISPLAY` alone only works with `QT_QPA_PLATFORM=wayland`, since
//! Qt 5 defaults to X11.

use std::any::Any;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::Duration;

/// What Qt would run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platform {
    /// An X server at this `DISPLAY`, reachable now.
    X11(String),
    /// A Wayland compositor, with Qt's wayland plugin selected.
    Wayland(String),
    /// Qt's offscreen plugin: windows exist but nothing is shown and no key arrives.
    Offscreen,
}

/// The platform Qt would use in this process's environment, or why there is none.
pub fn detect() -> Result<Platform, String> {
    let qpa = std::env::var("QT_QPA_PLATFORM").unwrap_or_default();
    if qpa.starts_with("offscreen") || qpa.starts_with("minimal") {
        return Ok(Platform::Offscreen);
    }
    let wayland = std::env::var("WAYLAND_DISPLAY").unwrap_or_default();
    if qpa.starts_with("wayland") {
        return if wayland.is_empty() {
            Err("QT_QPA_PLATFORM=wayland but WAYLAND_DISPLAY is not set".into())
        } else {
            Ok(Platform::Wayland(wayland))
        };
    }
    match std::env::var("DISPLAY") {
        Ok(display) if !display.is_empty() => match x11_reachable(&display) {
            Ok(()) => Ok(Platform::X11(display)),
            Err(e) => Err(format!("cannot connect to X display {display:?}: {e}")),
        },
        _ if !wayland.is_empty() => Err(format!(
            "WAYLAND_DISPLAY={wayland} is set but DISPLAY is not: Qt 5 needs XWayland \
             (DISPLAY) or QT_QPA_PLATFORM=wayland"
        )),
        _ => Err("neither DISPLAY nor WAYLAND_DISPLAY is set".into()),
    }
}

/// The connection made by the last reachability check, kept open until Qt has
/// its own: an X server with no other client (a bare Xvfb, `xvfb-run`) resets
/// when its last client hangs up, and refuses connections while it does, so a
/// probe that disconnected right before Qt connects would make Qt abort.
static PROBE: Mutex<Option<Box<dyn Any + Send>>> = Mutex::new(None);

/// Closes the kept probe connection (the GUI thread calls this once highgui
/// has opened its first window, i.e. holds its own connection).
pub(crate) fn release_probe() {
    if let Ok(mut probe) = PROBE.lock() {
        probe.take();
    }
}

fn keep(connection: impl Any + Send) {
    if let Ok(mut probe) = PROBE.lock() {
        *probe = Some(Box::new(connection));
    }
}

/// Connects to the X server named by `display` (`[host]:N[.screen]`); the
/// connection is kept until `release_probe`.
fn x11_reachable(display: &str) -> Result<(), String> {
    let (host, rest) = display
        .rsplit_once(':')
        .ok_or_else(|| "no ':' in DISPLAY".to_string())?;
    let number: u16 = rest
        .split('.')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("bad display number in {display:?}"))?;
    if host.is_empty() || host == "unix" {
        let path = format!("/tmp/.X11-unix/X{number}");
        if let Ok(stream) = UnixStream::connect(&path) {
            keep(stream);
            return Ok(());
        }
        return abstract_socket(&path);
    }
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, 6000 + number))
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{host} does not resolve"))?;
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map(keep)
        .map_err(|e| e.to_string())
}

#[cfg(target_os = "linux")]
fn abstract_socket(path: &str) -> Result<(), String> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(path.as_bytes())
        .map_err(|e| e.to_string())?;
    UnixStream::connect_addr(&addr)
        .map(keep)
        .map_err(|e| format!("{path}: {e}"))
}

#[cfg(not(target_os = "linux"))]
fn abstract_socket(path: &str) -> Result<(), String> {
    Err(format!("{path}: no X server socket"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_displays_are_reported_not_aborted() {
        assert!(x11_reachable(":4711").is_err());
        assert!(x11_reachable("nonsense").is_err());
        assert!(x11_reachable(":x").is_err());
    }
}
