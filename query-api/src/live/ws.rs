//! `GET /v1/ws`: live updates over a WebSocket.
//!
//! Handshake: a client that can set headers sends `Authorization: Bearer <access token>` with
//! the upgrade request (refused with 401 before upgrading when invalid); a browser opens the
//! socket without it and sends `{"type":"auth","token":"…"}` as its first message within
//! `--live-auth-timeout-secs`. The server answers `welcome`; the client then `subscribe`s to
//! rooms. Close codes are in [`rtcx_schemas::live::close`] and docs/live.md.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use rtcx_schemas::live::{ClientMessage, ServerMessage, close};

use super::hub::{Close, Registration};
use super::rooms::{Room, allowed_patterns};
use super::{Timings, source};
use crate::app::AppState;
use crate::auth::{AuthUser, authenticate, bearer_token};
use crate::error::ApiError;

/// Largest message a client may send.
const MAX_CLIENT_MESSAGE: usize = 16 * 1024;
/// Read buffer of a connection: clients send small messages, and axum's default (128 KiB,
/// allocated up front) cost ~110 KiB per idle connection (docs/benchmarks.md).
const READ_BUFFER: usize = 8 * 1024;

/// Registers a connection, or says why not (429).
pub(super) fn register(app: &Arc<AppState>, user: &AuthUser) -> Result<Registration, ApiError> {
    app.live.register(user).map_err(|r| ApiError::TooManyConnections(r.message()))
}

/// `GET /v1/ws`.
#[utoipa::path(
    get,
    path = "/v1/ws",
    tag = "live",
    summary = "Live updates over a WebSocket",
    description = "Upgrade to a WebSocket carrying the messages of `schemas/json/live-client.v1.json` (client) and `live-server.v1.json` (server). Authenticate with `Authorization: Bearer` on the upgrade request, or with an `auth` message first. Rooms: `dashboard`, `alerts`, `channel:<name>`, `topic:<id>`, `user`. Close codes: 4001 unauthorized, 4003 session ended, 4008 too slow, 4009 idle, 4029 too many connections, 1001 shutting down (docs/live.md).",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 426, response = crate::openapi::UpgradeRequired),
        (status = 429, response = crate::openapi::TooManyConnections),
    ),
    extensions(("x-rtcx-permission" = json!("read_analytics")))
)]
pub async fn ws(
    State(app): State<Arc<AppState>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let user = match bearer_token(&headers) {
        Some(token) => Some(authenticate(&app, token).await?),
        None => None,
    };
    let upgrade = upgrade.map_err(|e| ApiError::UpgradeRequired(e.body_text()))?;
    let registration = user.map(|u| register(&app, &u)).transpose()?;
    let timings = app.live_timings;
    Ok(upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| connection(app, socket, registration, timings)))
}

type Sink = SplitSink<WebSocket, Message>;

fn text(msg: &ServerMessage) -> Message {
    Message::Text(serde_json::to_string(msg).unwrap_or_default().into())
}

/// Sends a close frame (a stuck client gets one second).
async fn send_close(sink: &mut Sink, c: Close) {
    let frame = CloseFrame { code: c.code, reason: c.reason.into() };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), sink.send(Message::Close(Some(frame)))).await;
}

/// Waits for the `auth` message of a client that sent no `Authorization` header.
async fn first_message_auth(
    app: &Arc<AppState>,
    stream: &mut SplitStream<WebSocket>,
    timings: Timings,
) -> Result<AuthUser, Close> {
    let unauthorized = |reason| Close { code: close::UNAUTHORIZED, reason };
    let first = tokio::time::timeout(timings.auth, async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Text(t))) => return Some(t),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await
    .map_err(|_| unauthorized("no auth message in time"))?
    .ok_or(unauthorized("expected an auth message"))?;
    match serde_json::from_str::<ClientMessage>(&first) {
        Ok(ClientMessage::Auth { token }) => match authenticate(app, &token).await {
            Ok(user) => Ok(user),
            Err(ApiError::Unavailable(_)) => Err(Close { code: 1011, reason: "authentication unavailable, retry" }),
            Err(_) => Err(unauthorized("invalid or expired token")),
        },
        _ => Err(unauthorized("expected an auth message")),
    }
}

fn error(code: &str, message: impl Into<String>, room: Option<String>) -> ServerMessage {
    ServerMessage::Error { code: code.into(), message: message.into(), room }
}

/// The answers to one client message.
async fn handle(app: &Arc<AppState>, reg: &Registration, raw: &str) -> Vec<ServerMessage> {
    let msg = match serde_json::from_str::<ClientMessage>(raw) {
        Ok(m) => m,
        Err(e) => return vec![error("bad_message", e.to_string(), None)],
    };
    match msg {
        ClientMessage::Ping => vec![ServerMessage::Pong],
        ClientMessage::Auth { .. } => vec![error("bad_message", "already authenticated", None)],
        ClientMessage::Unsubscribe { room } => match Room::parse(&room) {
            Some(r) if reg.sub.unsubscribe(&r) => vec![ServerMessage::Unsubscribed { room }],
            Some(_) => vec![error("not_subscribed", "not in this room", Some(room))],
            None => vec![error("unknown_room", "no such room", Some(room))],
        },
        ClientMessage::Subscribe { room, filter } => {
            let Some(r) = Room::parse(&room) else {
                return vec![error("unknown_room", "no such room", Some(room))];
            };
            if !reg.sub.role.allows(r.permission()) {
                return vec![error("forbidden", "your role may not join this room", Some(room))];
            }
            if let Err(e) = r.check_filter(&filter) {
                return vec![error("bad_filter", e, Some(room))];
            }
            if !reg.sub.subscribe(r, filter.clone(), app.live.limits.max_subscriptions) {
                return vec![error("too_many_subscriptions", "leave a room first", Some(room))];
            }
            let mut out = vec![ServerMessage::Subscribed { room, filter: filter.clone() }];
            if r == Room::Dashboard {
                out.push(dashboard_snapshot(app, &filter).await);
            }
            out
        }
    }
}

/// The current dashboard figures of a subscription (sent on joining).
pub(super) async fn dashboard_snapshot(
    app: &Arc<AppState>,
    f: &rtcx_schemas::live::SubscriptionFilter,
) -> ServerMessage {
    let range = f.range.as_deref().unwrap_or(super::rooms::DEFAULT_DASHBOARD_RANGE);
    match source::dashboard_figures(app, range, f.channel).await {
        Ok(data) => {
            let (_, id) = app.live.next_id();
            ServerMessage::Dashboard { id, room: Room::Dashboard.name(), data }
        }
        Err(e) => error("unavailable", format!("dashboard figures: {e}"), Some(Room::Dashboard.name())),
    }
}

/// Serves one connection until either side ends it.
async fn connection(app: Arc<AppState>, socket: WebSocket, registration: Option<Registration>, t: Timings) {
    let (mut sink, mut stream) = socket.split();
    let mut reg = match registration {
        Some(r) => r,
        None => match first_message_auth(&app, &mut stream, t).await {
            Ok(user) => match app.live.register(&user) {
                Ok(r) => r,
                Err(r) => {
                    return send_close(&mut sink, Close { code: close::TOO_MANY_CONNECTIONS, reason: r.message() })
                        .await;
                }
            },
            Err(c) => return send_close(&mut sink, c).await,
        },
    };
    let welcome = ServerMessage::Welcome {
        user_id: reg.sub.user,
        role: reg.sub.role.as_str().to_owned(),
        rooms: allowed_patterns(reg.sub.role),
        send_buffer: app.live.limits.send_buffer,
    };
    if sink.send(text(&welcome)).await.is_err() {
        return;
    }
    let sub = Arc::clone(&reg.sub);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + t.ping, t.ping);
    let mut last_heard = Instant::now();
    let too_slow = Close { code: close::TOO_SLOW, reason: "too slow: a write timed out" };
    loop {
        let outgoing: Vec<Message> = tokio::select! {
            biased;
            c = sub.killed() => {
                send_close(&mut sink, c).await;
                break;
            }
            d = reg.rx.recv() => match d {
                Some(d) => vec![Message::Text(d.frame().text.clone())],
                None => break,
            },
            m = stream.next() => match m {
                Some(Ok(m)) => {
                    last_heard = Instant::now();
                    match m {
                        Message::Text(raw) => handle(&app, &reg, raw.as_str()).await.iter().map(text).collect(),
                        Message::Binary(_) => vec![text(&error("bad_message", "send JSON text frames", None))],
                        Message::Close(_) => break,
                        Message::Ping(_) | Message::Pong(_) => Vec::new(),
                    }
                }
                _ => break,
            },
            _ = ping.tick() => {
                if last_heard.elapsed() > t.idle {
                    send_close(&mut sink, Close { code: close::IDLE, reason: "idle" }).await;
                    break;
                }
                vec![Message::Ping(Default::default())]
            }
        };
        for m in outgoing {
            match tokio::time::timeout(t.write, sink.send(m)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    metrics::counter!("rtcx_live_dropped_connections_total", "reason" => "write_timeout").increment(1);
                    sub.kill(too_slow);
                    return;
                }
            }
        }
    }
}
