//! framekeep-ipc: zero-copy frame publish/subscribe between processes over iceoryx2
//! shared memory (publisher, subscriber, back-pressure, hold reports; docs follow).
#![warn(missing_docs)]

mod delivery;
mod domain;
mod error;
mod exits;
mod holds;
mod loans;
mod options;
mod publisher;
mod report;
mod samples;
mod send;
mod service;
mod signals;
mod subscriber;
#[cfg(feature = "testing")]
pub mod testing;
mod waiter;
mod wire;

pub use delivery::Delivery;
pub use domain::Domain;
pub use error::IpcError;
pub use options::{PublisherOptions, SubscriberOptions};
pub use publisher::Publisher;
pub use report::{FrameInfo, Published, PublisherStats, SubscriberReport, SubscriberStats};
pub use subscriber::Subscriber;
