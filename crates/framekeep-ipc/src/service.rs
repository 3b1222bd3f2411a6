//! The three iceoryx2 services behind one framekeep service name, and how each side
//! opens them.
//!
//! * `NAME` (publish-subscribe, `[u8]` payload, [`PageHeader`] user header): the frames.
//!   Only a publisher creates it, with its limits and its [`Delivery`] (stored as a service
//!   attribute, since iceoryx2 only knows "overflow on or off"); subscribers only open it,
//!   so the first process up can never fix settings the publisher did not choose.
//! * `NAME` (event): the wake-ups. The publisher notifies after every send; listeners
//!   also get an event when a notifier appears (a publisher came up), is dropped (it
//!   closed) or is found dead (someone cleaned up its crashed process). Fixed settings, so
//!   either side may create it.
//! * `NAME/@holds` (publish-subscribe of [`HoldReport`]): each subscriber's report of
//!   what it holds, read by the publisher. Fixed settings, either side may create it.

use framekeep_core::pipeline::Link;
use iceoryx2::node::NodeView;
use iceoryx2::prelude::SemanticString;
use iceoryx2::prelude::{CallbackProgression, EventId, Node, NodeState, PortFactory, ServiceName};
use iceoryx2::service::attribute::{AttributeKey, AttributeValue, AttributeVerifier};
use iceoryx2::service::builder::publish_subscribe::{
    PublishSubscribeOpenError, PublishSubscribeOpenOrCreateError,
};
use iceoryx2::service::port_factory::{event, publish_subscribe};

use crate::delivery::Delivery;
use crate::domain::Svc;
use crate::error::IpcError;
use crate::wire::{HoldReport, PageHeader};

/// The frame service.
pub(crate) type Frames = publish_subscribe::PortFactory<Svc, [u8], PageHeader>;
/// The event service.
pub(crate) type Events = event::PortFactory<Svc>;
/// The hold-report service.
pub(crate) type Holds = publish_subscribe::PortFactory<Svc, HoldReport, ()>;

/// Event id of "a sample was sent".
pub(crate) const EVENT_SENT: usize = 0;
/// Event id of "a notifier (a publisher) came up".
pub(crate) const EVENT_CREATED: usize = 1;
/// Event id of "a notifier was dropped" (its publisher closed).
pub(crate) const EVENT_DROPPED: usize = 2;
/// Event id of "a dead node was cleaned up" (some process of the service crashed).
pub(crate) const EVENT_DEAD: usize = 3;

/// Most subscribers a service may have (its event service's listener limit).
pub(crate) const MAX_SUBSCRIBERS: usize = 32;
/// Publisher ports of one service at once: a publisher that changes format replaces its
/// port while loaned frames may still hold the old one.
const MAX_PUBLISHERS: usize = 2;
/// Publisher processes that may overlap on the event and hold services (a restart while
/// the crashed one is not cleaned yet).
const MAX_NOTIFIERS: usize = 4;
/// Nodes on one service: every subscriber, a few publishers, room for dead nodes not yet
/// cleaned up.
const MAX_NODES: usize = MAX_SUBSCRIBERS + 16;

/// The attribute key that records a frame service's [`Delivery`].
const DELIVERY_KEY: &[u8] = b"framekeep.delivery";

/// What a publisher asks of its frame service.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameSpec {
    pub(crate) max_subscribers: usize,
    pub(crate) max_depth: usize,
    pub(crate) max_held: usize,
    pub(crate) delivery: Delivery,
}

/// The iceoryx2 name of `service`, or of its side service `service/@suffix`.
pub(crate) fn name(service: &str, suffix: Option<&str>) -> Result<ServiceName, IpcError> {
    let full = match suffix {
        Some(s) => format!("{service}/@{s}"),
        None => service.to_string(),
    };
    if service.is_empty() || service.len() > 240 {
        return Err(IpcError::InvalidName {
            name: service.to_string(),
            source: "a service name is 1 to 240 bytes".into(),
        });
    }
    ServiceName::new(&full).map_err(|e| IpcError::InvalidName {
        name: service.to_string(),
        source: Box::new(e),
    })
}

/// How [`Delivery`] is written in the service attribute.
fn delivery_value(delivery: Delivery) -> String {
    match delivery {
        Delivery::Lossy => "lossy".to_string(),
        Delivery::Blocking { max_wait } => format!("blocking:{}", max_wait.as_micros()),
    }
}

/// The [`Delivery`] of an opened frame service.
pub(crate) fn delivery_of(frames: &Frames) -> Delivery {
    let recorded = AttributeKey::new(DELIVERY_KEY).ok().and_then(|key| {
        let value = frames.attributes().key_value(&key, 0)?;
        let text = std::str::from_utf8(value.as_bytes()).ok()?;
        match text.split_once(':') {
            None if text == "lossy" => Some(Delivery::Lossy),
            Some(("blocking", us)) => us
                .parse()
                .ok()
                .map(|us| Delivery::blocking(std::time::Duration::from_micros(us))),
            _ => None,
        }
    });
    // A service made by another program: its overflow setting is all there is.
    recorded.unwrap_or(if frames.static_config().has_safe_overflow() {
        Delivery::Lossy
    } else {
        Delivery::blocking(std::time::Duration::ZERO)
    })
}

/// The frame service for a publisher: created with `spec`, or opened if it exists with
/// compatible settings (a restarted publisher while subscribers still hold it).
pub(crate) fn frames_for_publisher(
    node: &Node<Svc>,
    service: &str,
    spec: FrameSpec,
) -> Result<Frames, IpcError> {
    let key = AttributeKey::new(DELIVERY_KEY)
        .map_err(|e| IpcError::iceoryx("name an attribute", service, e))?;
    let value = AttributeValue::new(delivery_value(spec.delivery).as_bytes())
        .map_err(|e| IpcError::iceoryx("name an attribute", service, e))?;
    let attributes = AttributeVerifier::new()
        .require(&key, &value)
        .map_err(|e| IpcError::iceoryx("name an attribute", service, e))?;
    node.service_builder(&name(service, None)?)
        .publish_subscribe::<[u8]>()
        .user_header::<PageHeader>()
        .max_publishers(MAX_PUBLISHERS)
        .max_subscribers(spec.max_subscribers)
        .max_nodes(MAX_NODES)
        .subscriber_max_buffer_size(spec.max_depth)
        .subscriber_max_borrowed_samples(spec.max_held)
        .history_size(0)
        .enable_safe_overflow(spec.delivery.overflow())
        .open_or_create_with_attributes(&attributes)
        .map_err(|e| match e {
            PublishSubscribeOpenOrCreateError::PublishSubscribeOpenError(open) => {
                open_error(service, open)
            }
            other => IpcError::iceoryx("create the frame service", service, other),
        })
}

/// The frame service for a subscriber, `None` while no publisher ever created it.
pub(crate) fn frames_for_subscriber(
    node: &Node<Svc>,
    service: &str,
) -> Result<Option<Frames>, IpcError> {
    match node
        .service_builder(&name(service, None)?)
        .publish_subscribe::<[u8]>()
        .user_header::<PageHeader>()
        .open()
    {
        Ok(frames) => Ok(Some(frames)),
        Err(PublishSubscribeOpenError::DoesNotExist)
        | Err(PublishSubscribeOpenError::IsMarkedForDestruction) => Ok(None),
        Err(e) => Err(open_error(service, e)),
    }
}

fn open_error(service: &str, e: PublishSubscribeOpenError) -> IpcError {
    let reason = match e {
        PublishSubscribeOpenError::IncompatibleTypes => {
            "frame header or payload type (another framekeep version)"
        }
        PublishSubscribeOpenError::IncompatibleAttributes
        | PublishSubscribeOpenError::IncompatibleOverflowBehavior => {
            "delivery (lossy or blocking, and the blocking wait)"
        }
        PublishSubscribeOpenError::DoesNotSupportRequestedMinBufferSize => "max_depth",
        PublishSubscribeOpenError::DoesNotSupportRequestedMinSubscriberBorrowedSamples => {
            "max_held"
        }
        PublishSubscribeOpenError::DoesNotSupportRequestedAmountOfSubscribers => "max_subscribers",
        PublishSubscribeOpenError::DoesNotSupportRequestedAmountOfPublishers
        | PublishSubscribeOpenError::DoesNotSupportRequestedAmountOfNodes
        | PublishSubscribeOpenError::DoesNotSupportRequestedMinHistorySize => {
            "publisher, node or history limits (another framekeep version)"
        }
        other => return IpcError::iceoryx("open the frame service", service, other),
    };
    IpcError::Incompatible {
        service: service.to_string(),
        reason,
    }
}

/// Whether `link` is a policy the opened frame service can give a subscriber.
pub(crate) fn check_policy(frames: &Frames, service: &str, link: Link) -> Result<(), IpcError> {
    let offered = delivery_of(frames);
    let depth_ok =
        crate::delivery::depth(link) <= frames.static_config().subscriber_max_buffer_size();
    if offered.offers(link) && depth_ok {
        Ok(())
    } else {
        Err(IpcError::PolicyNotOffered {
            service: service.to_string(),
            requested: link,
            offered,
        })
    }
}

/// The event service (either side may create it).
pub(crate) fn events(node: &Node<Svc>, service: &str) -> Result<Events, IpcError> {
    node.service_builder(&name(service, None)?)
        .event()
        .max_listeners(MAX_SUBSCRIBERS)
        .max_notifiers(MAX_NOTIFIERS)
        .max_nodes(MAX_NODES)
        .event_id_max_value(EVENT_DEAD)
        .notifier_created_event(EventId::new(EVENT_CREATED))
        .notifier_dropped_event(EventId::new(EVENT_DROPPED))
        .notifier_dead_event(EventId::new(EVENT_DEAD))
        .open_or_create()
        .map_err(|e| IpcError::iceoryx("open the event service", service, e))
}

/// The hold-report service (either side may create it).
pub(crate) fn holds(node: &Node<Svc>, service: &str) -> Result<Holds, IpcError> {
    node.service_builder(&name(service, Some("holds"))?)
        .publish_subscribe::<HoldReport>()
        // One report port per subscriber, plus restarts not cleaned up yet.
        .max_publishers(MAX_SUBSCRIBERS + 8)
        // The publisher's reader, a restarted publisher's, a monitoring tool's.
        .max_subscribers(MAX_NOTIFIERS)
        .max_nodes(MAX_NODES)
        // Only the latest report of each subscriber matters; a reader that comes later
        // (a restarted publisher) gets each subscriber's last one.
        .subscriber_max_buffer_size(1)
        .subscriber_max_borrowed_samples(1)
        .history_size(1)
        .enable_safe_overflow(true)
        .open_or_create()
        .map_err(|e| IpcError::iceoryx("open the hold-report service", service, e))
}

/// Publisher ports of the frame service whose process is alive, and whether any
/// registered one belongs to a dead process (liveness is a file lock per node: a killed
/// process is seen dead at once, before anyone cleans it up).
pub(crate) fn publisher_liveness(frames: &Frames) -> (usize, bool) {
    let mut nodes = Vec::new();
    frames.dynamic_config().list_publishers(|p| {
        nodes.push(p.node_id);
        CallbackProgression::Continue
    });
    let (mut alive, mut dead) = (0, false);
    let _ = frames.nodes(|state| {
        match &state {
            NodeState::Alive(view) if nodes.contains(view.id()) => {
                alive += nodes.iter().filter(|id| *id == view.id()).count()
            }
            NodeState::Dead(view) if nodes.contains(view.id()) => dead = true,
            _ => {}
        }
        CallbackProgression::Continue
    });
    (alive, dead)
}
