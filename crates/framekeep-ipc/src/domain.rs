//! [`Domain`]: which processes can see each other's services.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use iceoryx2::prelude::{ipc_threadsafe, Config, FileName, NodeBuilder, NodeName};
use iceoryx2::prelude::{Node, SemanticString, SignalHandlingMode};

use crate::error::IpcError;
use crate::signals;

/// The iceoryx2 service flavour framekeep uses everywhere: inter-process, and with ports
/// and samples that may be used from any thread (a received frame may be dropped on a
/// worker thread).
pub(crate) type Svc = ipc_threadsafe::Service;

/// A set of processes that see each other's services: iceoryx2's configuration (the
/// prefix of every shared-memory file in `/dev/shm` and the directory of its node and
/// service records), passed to every node framekeep creates.
///
/// [`Domain::new`] is the one for real use (per user: iceoryx2 creates its files for the
/// creating user only, so a publisher and its subscribers must run as the same user).
/// [`Domain::named`] gives a separate one, for tests running in parallel or for a second
/// camera setup on the same machine.
///
/// Creating a domain also keeps iceoryx2 away from the process's signal handlers (see the
/// crate docs: framekeep's Ctrl-C handling keeps working).
///
/// Stale state left by crashed processes of a domain is removed by the next node that
/// starts in it (iceoryx2 cleans dead nodes when a node is created, and framekeep's
/// publishers and subscribers clean them while they run), so a crash never blocks the next
/// start.
#[derive(Clone)]
pub struct Domain {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    prefix: String,
    root: PathBuf,
}

impl std::fmt::Debug for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Domain")
            .field("prefix", &self.inner.prefix)
            .field("root", &self.inner.root)
            .finish()
    }
}

/// The longest path a Unix socket may have (`sun_path`, 108 bytes with its NUL).
const SOCKET_PATH_MAX: usize = 108;

/// The longest file name iceoryx2 0.10 puts after a domain's prefix in its root: an
/// event socket, `<u128 id in decimal, up to 39 digits>.event` (the id's top 32 bits
/// count the ids a process made, so it grows with the process's age).
const LONGEST_TAIL: usize = 39 + ".event".len();

/// The directory under which every domain of this user keeps its sockets and node files.
fn base_dir() -> String {
    format!("/tmp/fk-{}", uid())
}

/// The user id, to keep the default domains of two users apart.
fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

impl Domain {
    /// The default domain of the current user: files `/dev/shm/fk_*` and
    /// `/tmp/fk-<uid>/`.
    pub fn new() -> Result<Domain, IpcError> {
        Domain::with_paths("fk_", format!("{}/", base_dir()))
    }

    /// The longest domain name [`Domain::named`] accepts for this user: the root
    /// `<base>/<name>/`, the prefix `fk_<name>_` and the longest file name must stay
    /// under the socket path limit.
    pub fn max_name_len() -> usize {
        let fixed =
            base_dir().len() + "/".len() + "/".len() + "fk_".len() + "_".len() + LONGEST_TAIL;
        (SOCKET_PATH_MAX - 1).saturating_sub(fixed) / 2
    }

    /// A domain of its own called `name` (ASCII letters, digits, `-` and `_`): files
    /// `/dev/shm/fk_<name>_*` and `/tmp/fk-<uid>/<name>/`. Processes of different domains
    /// never see each other.
    ///
    /// The name is at most [`Domain::max_name_len`] bytes (23 for root, 22 for uid 1000):
    /// it appears twice in the path of iceoryx2's event sockets, which the system limits
    /// to 108 bytes. A longer name is refused here, not when a subscriber is made.
    pub fn named(name: &str) -> Result<Domain, IpcError> {
        let max = Domain::max_name_len();
        let valid = !name.is_empty()
            && name.len() <= max
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(IpcError::InvalidName {
                name: name.to_string(),
                source: format!(
                    "a domain name is 1 to {max} ASCII letters, digits, '-' or '_' \
                     (its socket paths must fit the system's {SOCKET_PATH_MAX}-byte limit)"
                )
                .into(),
            });
        }
        Domain::with_paths(&format!("fk_{name}_"), format!("{}/{name}/", base_dir()))
    }

    fn with_paths(prefix: &str, root: String) -> Result<Domain, IpcError> {
        signals::guard();
        std::fs::create_dir_all(&root).map_err(|source| IpcError::Io {
            what: "creating the domain's directory",
            source,
        })?;
        let mut config = Config::default();
        config.global.prefix =
            FileName::new(prefix.as_bytes()).map_err(|e| IpcError::InvalidName {
                name: prefix.to_string(),
                source: Box::new(e),
            })?;
        let root_path =
            iceoryx2::prelude::Path::new(root.as_bytes()).map_err(|e| IpcError::InvalidName {
                name: root.clone(),
                source: Box::new(e),
            })?;
        config.global.set_root_path(&root_path);
        // Never rely on iceoryx2's global config files; keep its automatic dead-node
        // cleanup on (node creation, node drop, service open): it is what makes a crashed
        // run harmless to the next one.
        config.global.node.cleanup_dead_nodes_on_creation = true;
        config.global.node.cleanup_dead_nodes_on_destruction = true;
        config.global.service.cleanup_dead_nodes_on_open = true;
        Ok(Domain {
            inner: Arc::new(Inner {
                config,
                prefix: prefix.to_string(),
                root: PathBuf::from(root),
            }),
        })
    }

    /// The prefix of every file this domain creates in `/dev/shm`.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The directory of this domain's node and service records.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// A node of this domain (signal handling off, this domain's config).
    pub(crate) fn node(&self, name: &str) -> Result<Node<Svc>, IpcError> {
        let node_name = NodeName::new(name).map_err(|e| IpcError::InvalidName {
            name: name.to_string(),
            source: Box::new(e),
        })?;
        NodeBuilder::new()
            .name(&node_name)
            .config(&self.inner.config)
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<Svc>()
            .map_err(|e| IpcError::iceoryx("create a node", &self.inner.prefix, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_domains_are_validated_and_apart() {
        let a = Domain::named("unit-a").unwrap();
        assert_eq!(a.prefix(), "fk_unit-a_");
        assert!(a.root().ends_with("unit-a"));
        let too_long = "x".repeat(Domain::max_name_len() + 1);
        for bad in ["", "a/b", "sp ace", &too_long] {
            assert!(matches!(
                Domain::named(bad),
                Err(IpcError::InvalidName { .. })
            ));
        }
        let _ = std::fs::remove_dir_all(a.root());
    }
}
