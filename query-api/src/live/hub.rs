//! The hub of one query-api instance: its live connections (WebSocket and Server-Sent
//! Events), their subscriptions, and the fan-out of events to them.
//!
//! Publishing never waits on a connection: every connection has a bounded queue, and one
//! whose queue is full is dropped as too slow (close code 4008) while the others go on. Each
//! event is serialised once per audience, not once per connection. The last
//! `--live-replay` events are kept for `Last-Event-ID` resumption.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use axum::extract::ws::Utf8Bytes;
use rtcx_schemas::live::SubscriptionFilter;
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use super::rooms::{Audience, Room};
use crate::auth::{AuthUser, Role};

/// Limits of the hub (`LiveArgs`).
#[derive(Debug, Clone, Copy)]
pub struct HubLimits {
    pub max_connections: usize,
    pub max_connections_per_user: usize,
    pub send_buffer: usize,
    pub max_subscriptions: usize,
    pub replay: usize,
}

impl Default for HubLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_user: 20,
            send_buffer: 256,
            max_subscriptions: 32,
            replay: 4096,
        }
    }
}

/// One serialised message of an event, for one audience.
#[derive(Debug, Clone)]
pub struct Frame {
    pub audience: Audience,
    /// The message's `type` (the SSE event name).
    pub kind: &'static str,
    pub text: Utf8Bytes,
}

/// An event: its sequence number and its frames (one per audience).
#[derive(Debug)]
pub struct LiveEvent {
    pub seq: u64,
    pub id: String,
    pub frames: Vec<Frame>,
}

/// A frame of an event, as queued for a connection.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub event: Arc<LiveEvent>,
    pub frame: usize,
}

impl Delivery {
    pub fn frame(&self) -> &Frame {
        &self.event.frames[self.frame]
    }
}

/// Why the server ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: &'static str,
}

/// One live connection.
pub struct Subscriber {
    pub id: u64,
    pub user: Uuid,
    pub role: Role,
    pub session: Uuid,
    rooms: RwLock<HashMap<Room, SubscriptionFilter>>,
    tx: mpsc::Sender<Delivery>,
    close: OnceLock<Close>,
    closed: Notify,
}

impl Subscriber {
    /// The first frame of `event` this connection receives, if any.
    fn first_match(&self, event: &LiveEvent) -> Option<usize> {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        event
            .frames
            .iter()
            .position(|f| rooms.iter().any(|(r, filter)| f.audience.reaches(r, filter, self.user, self.role)))
    }

    /// Ends the connection (the first reason given wins).
    pub fn kill(&self, close: Close) {
        if self.close.set(close).is_ok() {
            self.closed.notify_one();
        }
    }

    /// Resolves once the connection is to end, with why.
    pub async fn killed(&self) -> Close {
        loop {
            if let Some(c) = self.close.get() {
                return *c;
            }
            self.closed.notified().await;
        }
    }

    /// Joins `room` (or replaces its filter); false when the connection has as many rooms as
    /// allowed.
    pub fn subscribe(&self, room: Room, filter: SubscriptionFilter, max: usize) -> bool {
        let mut rooms = self.rooms.write().unwrap_or_else(|e| e.into_inner());
        if !rooms.contains_key(&room) && rooms.len() >= max {
            return false;
        }
        rooms.insert(room, filter);
        true
    }

    /// Leaves `room`; false when it was not joined.
    pub fn unsubscribe(&self, room: &Room) -> bool {
        self.rooms.write().unwrap_or_else(|e| e.into_inner()).remove(room).is_some()
    }

    /// Whether the connection would receive `event` (for replays).
    pub fn wants(&self, event: &LiveEvent) -> Option<usize> {
        self.first_match(event)
    }

    /// The `dashboard` subscription's range and channel, if joined.
    fn dashboard_key(&self) -> Option<(String, Option<rtcx_schemas::Channel>)> {
        let rooms = self.rooms.read().unwrap_or_else(|e| e.into_inner());
        rooms
            .get(&Room::Dashboard)
            .map(|f| (f.range.clone().unwrap_or_else(|| super::rooms::DEFAULT_DASHBOARD_RANGE.to_owned()), f.channel))
    }
}

/// A registered connection; dropping it unregisters.
pub struct Registration {
    pub sub: Arc<Subscriber>,
    pub rx: mpsc::Receiver<Delivery>,
    hub: Arc<Hub>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(self.sub.id, self.sub.user);
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    InstanceFull,
    UserFull,
}

impl Refused {
    pub fn message(self) -> &'static str {
        match self {
            Refused::InstanceFull => "this instance has as many live connections as allowed",
            Refused::UserFull => "you have as many live connections as allowed",
        }
    }
}

/// The live connections of this instance.
pub struct Hub {
    epoch: u64,
    seq: AtomicU64,
    next_conn: AtomicU64,
    pub limits: HubLimits,
    subs: RwLock<HashMap<u64, Arc<Subscriber>>>,
    per_user: Mutex<HashMap<Uuid, usize>>,
    recent: Mutex<VecDeque<Arc<LiveEvent>>>,
}

impl Hub {
    pub fn new(limits: HubLimits) -> Arc<Self> {
        let epoch = chrono::Utc::now().timestamp_millis().unsigned_abs();
        Arc::new(Self {
            epoch,
            seq: AtomicU64::new(0),
            next_conn: AtomicU64::new(1),
            limits,
            subs: RwLock::new(HashMap::new()),
            per_user: Mutex::new(HashMap::new()),
            recent: Mutex::new(VecDeque::new()),
        })
    }

    /// Reserves the next event's sequence number and id (`"<epoch>-<seq>"`).
    pub fn next_id(&self) -> (u64, String) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        (seq, format!("{}-{seq}", self.epoch))
    }

    /// Reads an event id of this instance; `None` for another instance's (or garbage).
    pub fn parse_id(&self, id: &str) -> Option<u64> {
        let (epoch, seq) = id.trim().split_once('-')?;
        (epoch.parse::<u64>().ok()? == self.epoch).then_some(())?;
        seq.parse().ok()
    }

    /// Registers a connection of `user`.
    pub fn register(self: &Arc<Self>, user: &AuthUser) -> Result<Registration, Refused> {
        let mut subs = self.subs.write().unwrap_or_else(|e| e.into_inner());
        if subs.len() >= self.limits.max_connections {
            return Err(Refused::InstanceFull);
        }
        {
            let mut per_user = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
            let n = per_user.entry(user.id).or_default();
            if *n >= self.limits.max_connections_per_user {
                return Err(Refused::UserFull);
            }
            *n += 1;
        }
        let (tx, rx) = mpsc::channel(self.limits.send_buffer.max(1));
        let sub = Arc::new(Subscriber {
            id: self.next_conn.fetch_add(1, Ordering::Relaxed),
            user: user.id,
            role: user.role,
            session: user.session,
            rooms: RwLock::new(HashMap::new()),
            tx,
            close: OnceLock::new(),
            closed: Notify::new(),
        });
        subs.insert(sub.id, Arc::clone(&sub));
        metrics::gauge!("rtcx_live_connections").set(subs.len() as f64);
        Ok(Registration { sub, rx, hub: Arc::clone(self) })
    }

    fn unregister(&self, id: u64, user: Uuid) {
        let mut subs = self.subs.write().unwrap_or_else(|e| e.into_inner());
        if subs.remove(&id).is_some() {
            let mut per_user = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = per_user.get_mut(&user) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    per_user.remove(&user);
                }
            }
        }
        metrics::gauge!("rtcx_live_connections").set(subs.len() as f64);
    }

    /// Delivers an event to every connection it reaches; a connection whose queue is full is
    /// dropped as too slow. Returns how many connections it was queued for.
    pub fn publish(&self, event: LiveEvent) -> usize {
        let event = Arc::new(event);
        {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            recent.push_back(Arc::clone(&event));
            while recent.len() > self.limits.replay {
                recent.pop_front();
            }
        }
        let subs = self.subs.read().unwrap_or_else(|e| e.into_inner());
        let mut queued = 0;
        for sub in subs.values() {
            let Some(frame) = sub.first_match(&event) else { continue };
            match sub.tx.try_send(Delivery { event: Arc::clone(&event), frame }) {
                Ok(()) => queued += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    metrics::counter!("rtcx_live_dropped_connections_total", "reason" => "too_slow").increment(1);
                    sub.kill(Close { code: rtcx_schemas::live::close::TOO_SLOW, reason: "too slow: send buffer full" });
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        metrics::counter!("rtcx_live_deliveries_total").increment(queued as u64);
        queued
    }

    /// The remembered events after `seq`, oldest first; `None` when some of them are no
    /// longer remembered.
    pub fn since(&self, seq: u64) -> Option<Vec<Arc<LiveEvent>>> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = recent.iter().map(|e| e.seq).min().unwrap_or(self.seq.load(Ordering::Relaxed) + 1);
        if seq + 1 < oldest && seq < self.seq.load(Ordering::Relaxed) {
            return None;
        }
        Some(recent.iter().filter(|e| e.seq > seq).cloned().collect())
    }

    /// The distinct `dashboard` subscriptions (range, channel).
    pub fn dashboard_keys(&self) -> HashSet<(String, Option<rtcx_schemas::Channel>)> {
        let subs = self.subs.read().unwrap_or_else(|e| e.into_inner());
        subs.values().filter_map(|s| s.dashboard_key()).collect()
    }

    /// The sessions of the connected users.
    pub fn sessions(&self) -> HashSet<Uuid> {
        self.subs.read().unwrap_or_else(|e| e.into_inner()).values().map(|s| s.session).collect()
    }

    /// Ends every connection of a session in `ended`.
    pub fn end_sessions(&self, ended: &HashSet<Uuid>) -> usize {
        let subs = self.subs.read().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for s in subs.values().filter(|s| ended.contains(&s.session)) {
            s.kill(Close { code: rtcx_schemas::live::close::SESSION_ENDED, reason: "session ended" });
            n += 1;
        }
        n
    }

    /// Ends every connection (shutdown).
    pub fn close_all(&self) {
        for s in self.subs.read().unwrap_or_else(|e| e.into_inner()).values() {
            s.kill(Close { code: rtcx_schemas::live::close::GOING_AWAY, reason: "server shutting down" });
        }
    }

    pub fn connections(&self) -> usize {
        self.subs.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use rtcx_schemas::{Channel, SentimentLabel};

    use super::*;

    fn user() -> AuthUser {
        AuthUser { id: Uuid::now_v7(), role: Role::Agent, session: Uuid::now_v7() }
    }

    fn feedback(hub: &Hub, channel: Channel) -> LiveEvent {
        let (seq, id) = hub.next_id();
        let audience = Audience::Feedback { room: Room::Channel(channel), sentiment: SentimentLabel::Negative };
        LiveEvent { seq, id, frames: vec![Frame { audience, kind: "feedback", text: "{}".into() }] }
    }

    #[test]
    fn a_full_queue_drops_that_connection_only() {
        let hub = Hub::new(HubLimits { send_buffer: 2, ..HubLimits::default() });
        let (slow, fast) = (hub.register(&user()).expect("slow"), hub.register(&user()).expect("fast"));
        let mut fast = fast;
        for r in [&slow, &fast] {
            assert!(r.sub.subscribe(Room::Channel(Channel::Web), SubscriptionFilter::default(), 4));
        }
        for _ in 0..5 {
            hub.publish(feedback(&hub, Channel::Web));
            while fast.rx.try_recv().is_ok() {}
        }
        assert_eq!(slow.sub.close.get().map(|c| c.code), Some(rtcx_schemas::live::close::TOO_SLOW));
        assert!(fast.sub.close.get().is_none());
        assert_eq!(hub.publish(feedback(&hub, Channel::Email)), 0, "nobody is in channel:email");
    }

    #[test]
    fn limits_per_user_and_instance() {
        let hub = Hub::new(HubLimits { max_connections: 3, max_connections_per_user: 2, ..HubLimits::default() });
        let u = user();
        let (a, _b) = (hub.register(&u).expect("1"), hub.register(&u).expect("2"));
        assert_eq!(hub.register(&u).err(), Some(Refused::UserFull));
        let _c = hub.register(&user()).expect("3");
        assert_eq!(hub.register(&user()).err(), Some(Refused::InstanceFull));
        drop(a);
        assert!(hub.register(&u).is_ok(), "a closed connection frees its place");
    }

    #[test]
    fn replay_knows_what_it_forgot() {
        let hub = Hub::new(HubLimits { replay: 3, ..HubLimits::default() });
        for _ in 0..5 {
            hub.publish(feedback(&hub, Channel::Web));
        }
        assert_eq!(hub.since(4).map(|v| v.len()), Some(1));
        assert_eq!(hub.since(2).map(|v| v.len()), Some(3));
        assert!(hub.since(1).is_none(), "event 2 is forgotten");
        assert_eq!(hub.since(5).map(|v| v.len()), Some(0));
        let (_, id) = hub.next_id();
        assert!(hub.parse_id(&id).is_some());
        assert_eq!(hub.parse_id("1-5"), None);
    }
}
