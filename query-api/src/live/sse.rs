//! `GET /v1/events`: the live rooms as Server-Sent Events, for clients that cannot use
//! WebSockets. Rooms and one filter are given in the query; every event carries an `id`, and
//! a reconnecting client's `Last-Event-ID` replays the events it missed while this instance
//! still remembers them (`--live-replay`), else a `resync` event tells it to re-read through
//! the REST API. A connection that falls behind is ended with a `closing` event.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use rtcx_schemas::live::{ServerMessage, SubscriptionFilter};
use rtcx_schemas::{AlertSeverity, AlertType, Channel, SentimentLabel};
use serde::Deserialize;

use super::hub::{Delivery, Registration};
use super::rooms::Room;
use super::ws::{dashboard_snapshot, register};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;

/// The rooms and the filter of an event stream.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Comma-separated rooms: `dashboard`, `alerts`, `channel:<name>`, `topic:<id>`, `user`.
    #[param(example = "alerts,channel:email")]
    pub rooms: String,
    /// Feedback rooms: comma-separated sentiments (negative, neutral, positive).
    pub sentiment: Option<String>,
    /// Alert rooms: only alerts at least this severe.
    #[param(value_type = Option<String>, example = "HIGH")]
    pub min_severity: Option<AlertSeverity>,
    /// Alert rooms: comma-separated alert types.
    pub alert_types: Option<String>,
    /// `dashboard`: 1h, 24h (default), 7d, 30d or 90d.
    pub range: Option<String>,
    /// `dashboard`: only this channel.
    #[param(value_type = Option<String>)]
    pub channel: Option<Channel>,
}

fn list<T: serde::de::DeserializeOwned>(field: &str, v: &Option<String>) -> Result<Option<Vec<T>>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    v.split(',')
        .map(|s| serde_json::from_value(serde_json::Value::String(s.trim().to_owned())))
        .collect::<Result<Vec<T>, _>>()
        .map(Some)
        .map_err(|_| ApiError::invalid(field, "unknown value"))
}

/// The rooms and their filters of a query, checked like WebSocket subscriptions.
fn subscriptions(user: &AuthUser, q: &EventsQuery) -> Result<Vec<(Room, SubscriptionFilter)>, ApiError> {
    let filter = SubscriptionFilter {
        sentiment: list::<SentimentLabel>("sentiment", &q.sentiment)?,
        min_severity: q.min_severity,
        alert_types: list::<AlertType>("alert_types", &q.alert_types)?,
        range: q.range.clone(),
        channel: q.channel,
    };
    let mut rooms = Vec::new();
    for name in q.rooms.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let room = Room::parse(name).ok_or_else(|| ApiError::invalid("rooms", format!("no such room: {name}")))?;
        if !user.role.allows(room.permission()) {
            return Err(ApiError::Forbidden("your role may not join one of these rooms"));
        }
        let f = room.project(&filter);
        room.check_filter(&f).map_err(|e| ApiError::invalid("rooms", e))?;
        if !rooms.iter().any(|(r, _)| *r == room) {
            rooms.push((room, f));
        }
    }
    if rooms.is_empty() {
        return Err(ApiError::invalid("rooms", "name at least one room"));
    }
    // A filter field that applies to none of the rooms is a mistake, as over the WebSocket.
    let used = |pick: fn(&SubscriptionFilter) -> bool| rooms.iter().any(|(_, f)| pick(f));
    let unused = [
        ("sentiment", filter.sentiment.is_some() && !used(|f| f.sentiment.is_some())),
        ("min_severity", filter.min_severity.is_some() && !used(|f| f.min_severity.is_some())),
        ("alert_types", filter.alert_types.is_some() && !used(|f| f.alert_types.is_some())),
        ("range", filter.range.is_some() && !used(|f| f.range.is_some())),
        ("channel", filter.channel.is_some() && !used(|f| f.channel.is_some())),
    ];
    if let Some((field, _)) = unused.iter().find(|(_, bad)| *bad) {
        return Err(ApiError::invalid(field, "applies to none of the rooms"));
    }
    if rooms.len() > 32 {
        return Err(ApiError::invalid("rooms", "at most 32 rooms"));
    }
    Ok(rooms)
}

fn event_of(d: &Delivery) -> Event {
    let f = d.frame();
    Event::default().id(&d.event.id).event(f.kind).data(f.text.as_str())
}

fn message_event(msg: &ServerMessage, kind: &str) -> Event {
    let e = Event::default().event(kind).data(serde_json::to_string(msg).unwrap_or_default());
    match msg {
        ServerMessage::Dashboard { id, .. } => e.id(id),
        _ => e,
    }
}

struct StreamState {
    reg: Registration,
    pending: VecDeque<Event>,
    /// Deliveries up to this sequence number were replayed already.
    replayed_upto: u64,
    done: bool,
}

/// `GET /v1/events`.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "live",
    summary = "Live updates as Server-Sent Events",
    description = "The WebSocket's rooms as an event stream (`text/event-stream`); each event's name is its message `type` and its data the JSON message of `schemas/json/live-server.v1.json`. Send `Last-Event-ID` to resume. Filters apply to the rooms they fit; one that fits none is refused.",
    params(EventsQuery, ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received, to resume after it")),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 429, response = crate::openapi::TooManyConnections),
    ),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn events(
    State(app): State<Arc<AppState>>,
    user: AuthUser,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(q) = query?;
    let rooms = subscriptions(&user, &q)?;
    let reg = register(&app, &user)?;
    for (room, filter) in &rooms {
        reg.sub.subscribe(*room, filter.clone(), usize::MAX);
    }
    let mut pending = VecDeque::new();
    let mut replayed_upto = 0;
    if let Some(last) = headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        match app.live.parse_id(last).and_then(|seq| app.live.since(seq).map(|ev| (seq, ev))) {
            Some((seq, missed)) => {
                replayed_upto = seq;
                for ev in missed {
                    replayed_upto = replayed_upto.max(ev.seq);
                    if let Some(frame) = reg.sub.wants(&ev) {
                        pending.push_back(event_of(&Delivery { event: ev, frame }));
                    }
                }
            }
            None => {
                let reason = "events after Last-Event-ID are not remembered here".to_owned();
                pending.push_back(message_event(&ServerMessage::Resync { reason }, "resync"));
            }
        }
    }
    if let Some((_, f)) = rooms.iter().find(|(r, _)| *r == Room::Dashboard) {
        pending.push_back(message_event(&dashboard_snapshot(&app, f).await, "dashboard"));
    }
    let state = StreamState { reg, pending, replayed_upto, done: false };
    let stream = futures::stream::unfold(state, |mut s| async move {
        if let Some(e) = s.pending.pop_front() {
            return Some((Ok(e), s));
        }
        if s.done {
            return None;
        }
        let sub = Arc::clone(&s.reg.sub);
        loop {
            tokio::select! {
                biased;
                c = sub.killed() => {
                    s.done = true;
                    let msg = ServerMessage::Closing { code: c.code, reason: c.reason.to_owned() };
                    return Some((Ok(message_event(&msg, "closing")), s));
                }
                d = s.reg.rx.recv() => match d {
                    Some(d) if d.event.seq <= s.replayed_upto => continue,
                    Some(d) => return Some((Ok(event_of(&d)), s)),
                    None => return None,
                },
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(app.live_timings.ping)))
}
