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
use std::io;
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

/// Why [`detect`] found no display Qt could open.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// Neither `DISPLAY` nor `WAYLAND_DISPLAY` is set.
    #[error("neither DISPLAY nor WAYLAND_DISPLAY is set")]
    Unset,
    /// `QT_QPA_PLATFORM=wayland` without `WAYLAND_DISPLAY`.
    #[error("QT_QPA_PLATFORM=wayland but WAYLAND_DISPLAY is not set")]
    WaylandUnset,
    /// Only `WAYLAND_DISPLAY` is set (its value here): Qt 5 defaults to X11, so it needs
    /// XWayland's `DISPLAY` or `QT_QPA_PLATFORM=wayland`.
    #[error(
        "WAYLAND_DISPLAY={0} is set but DISPLAY is not: Qt 5 needs XWayland \
         (DISPLAY) or QT_QPA_PLATFORM=wayland"
    )]
    NeedsXWayland(String),
    /// `DISPLAY` (its value here) is not of the form `[host]:N[.screen]`.
    #[error("bad DISPLAY {0:?}: expected [host]:N[.screen]")]
    BadDisplay(String),
    /// The X server that `DISPLAY` names did not accept a connection.
    #[error("cannot connect to X display {display:?}")]
    Unreachable {
        /// The value of `DISPLAY`.
        display: String,
        /// Why the connection failed.
        #[source]
        source: std::io::Error,
    },
}

/// The platform Qt would use in this process's environment, or why there is none.
pub fn detect() -> Result<Platform, DetectError> {
    let qpa = std::env::var("QT_QPA_PLATFORM").unwrap_or_default();
    if qpa.starts_with("offscreen") || qpa.starts_with("minimal") {
        return Ok(Platform::Offscreen);
    }
    let wayland = std::env::var("WAYLAND_DISPLAY").unwrap_or_default();
    if qpa.starts_with("wayland") {
        return if wayland.is_empty() {
            Err(DetectError::WaylandUnset)
        } else {
            Ok(Platform::Wayland(wayland))
        };
    }
    match std::env::var("DISPLAY") {
        Ok(display) if !display.is_empty() => {
            x11_reachable(&display)?;
            Ok(Platform::X11(display))
        }
        _ if !wayland.is_empty() => Err(DetectError::NeedsXWayland(wayland)),
        _ => Err(DetectError::Unset),
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
fn x11_reachable(display: &str) -> Result<(), DetectError> {
    let bad = || DetectError::BadDisplay(display.to_string());
    let unreachable = |source| DetectError::Unreachable {
        display: display.to_string(),
        source,
    };
    let (host, rest) = display.rsplit_once(':').ok_or_else(bad)?;
    let number: u16 = rest
        .split('.')
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)?;
    if host.is_empty() || host == "unix" {
        let path = format!("/tmp/.X11-unix/X{number}");
        if let Ok(stream) = UnixStream::connect(&path) {
            keep(stream);
            return Ok(());
        }
        return abstract_socket(&path).map_err(unreachable);
    }
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, 6000 + number))
        .map_err(unreachable)?
        .next()
        .ok_or_else(|| {
            unreachable(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host} resolves to no address"),
            ))
        })?;
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .map(keep)
        .map_err(unreachable)
}

/// Connects to the X server's abstract socket `path` (Linux); the connection is kept.
#[cfg(target_os = "linux")]
fn abstract_socket(path: &str) -> io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(path.as_bytes())?;
    UnixStream::connect_addr(&addr).map(keep)
}

/// No abstract sockets outside Linux: the filesystem socket was the only chance.
#[cfg(not(target_os = "linux"))]
fn abstract_socket(path: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("{path}: no X server socket"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_displays_are_reported_not_aborted() {
        assert!(matches!(
            x11_reachable(":4711"),
            Err(DetectError::Unreachable { .. })
        ));
        assert!(matches!(
            x11_reachable("nonsense"),
            Err(DetectError::BadDisplay(_))
        ));
        assert!(matches!(
            x11_reachable(":x"),
            Err(DetectError::BadDisplay(_))
        ));
    }
}
