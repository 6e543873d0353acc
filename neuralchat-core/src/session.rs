//! A session: one connected client, whatever the transport. It decodes
//! frames, applies the per-session frame rate, keeps who is logged in and
//! which rooms are open, and maps each frame to an engine call. Frames take
//! effect, and are answered, in the order they arrived; a message (`send`)
//! does not wait for the one before it to the same room to be stored, only
//! to be queued in that room (up to [`SENDS_IN_FLIGHT`] at once), and any
//! other frame waits until the messages before it are answered.

use crate::answer_line::AnswerLine;
use crate::engine::{message_text, Effect, Engine, Submitted};
use crate::error::{ChatError, ChatResult, ErrorCode};
use crate::hub::{Offline, Online};
use crate::metrics::Metrics;
use crate::outbox::{CloseReason, Outbox};
use crate::protocol::{decode, ClientFrame, Request, ServerFrame, PROTOCOL};
use crate::rate::TokenBucket;
use crate::room::{Enter, Exit, Room, SessionId};
use actix::prelude::*;
use bytestring::ByteString;
use slog::{debug, info, warn, Logger};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The most messages (`send` frames) of one connection queued in their
/// rooms and not answered yet; the next waits until fewer answers than
/// this wait (refusals queued behind the messages count too).
pub const SENDS_IN_FLIGHT: usize = 64;
/// The most answers (acks, and the refusals that wait behind them) one
/// connection may have waiting: a client that keeps sending frames that
/// are refused while its messages wait to be stored would otherwise grow
/// the line of answers without bound. More close the session.
pub const MOST_WAITING_ANSWERS: usize = 4 * SENDS_IN_FLIGHT;

/// What a transport holds for one connection.
#[derive(Debug)]
pub struct SessionLink {
    /// Where client frames go (send [`Inbound`], then [`Disconnect`]).
    pub session: Addr<Session>,
    /// Server frames to write, in order, as JSON text.
    pub frames: mpsc::Receiver<ByteString>,
    /// Fires when the engine closes the session (e.g. a slow consumer).
    pub closed: oneshot::Receiver<CloseReason>,
}

/// One client frame, as text, from the transport.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Inbound(pub String);

/// The client went away; the session stops.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Disconnect;

/// One connected client.
pub struct Session {
    /// Engine-wide id.
    id: SessionId,
    /// The engine.
    engine: Engine,
    /// Where frames for the client go.
    outbox: Outbox,
    /// The logged-in user, if any.
    user: Option<String>,
    /// The token the session logged in or authenticated with.
    token: Option<String>,
    /// Rooms this session is in.
    rooms: HashMap<String, Addr<Room>>,
    /// How many times the session has logged out: a log-in deadline set
    /// before the last log-out no longer applies.
    logouts: u64,
    /// The answers to messages queued in their rooms (and to refusals
    /// waiting behind them), sent in order by one task, which also counts
    /// how many still wait.
    answers: AnswerLine,
    /// The room those messages went to.
    sending_to: Option<String>,
    /// Frame rate limit.
    frames: TokenBucket,
    /// The client's IP address (what log-in limits count by).
    address: String,
    /// Session log (carries the session id, transport and peer).
    log: Logger,
}

/// What a handled frame changes in the session besides its answer.
enum Change {
    /// Nothing.
    None,
    /// The session is now this user's.
    LoggedIn { user: String, token: Option<String> },
    /// The session is anonymous again.
    LoggedOut,
    /// The session entered a room (the room sent `joined` itself).
    Entered { room: String, addr: Addr<Room> },
    /// The session left a room.
    Left { room: String },
}

type Handled = Pin<Box<dyn Future<Output = ChatResult<(Option<ServerFrame>, Change)>>>>;

impl Session {
    /// A new session writing into `outbox`.
    pub(crate) fn new(
        id: SessionId,
        engine: Engine,
        outbox: Outbox,
        transport: &'static str,
        peer: String,
    ) -> Self {
        let limits = &engine.config().limits;
        let frames = TokenBucket::new(limits.frames_per_second, limits.frame_burst);
        let address = crate::engine::client_address(&peer);
        let log = engine
            .logger()
            .new(slog::o!("session" => id, "transport" => transport, "peer" => peer));
        Self {
            id,
            engine,
            outbox,
            user: None,
            token: None,
            rooms: HashMap::new(),
            logouts: 0,
            answers: AnswerLine::default(),
            sending_to: None,
            frames,
            address,
            log,
        }
    }

    fn send(&self, frame: &ServerFrame) {
        self.outbox.push(frame.encode());
    }

    fn send_error(&self, error: ChatError, reference: Option<String>) {
        audit_refusal(&self.engine, self.id, self.user.as_deref(), &error);
        self.send(&ServerFrame::error(error, reference));
    }

    /// The `ref` of a frame refused before it is handled, if it can be
    /// read, so the client knows which request was refused.
    fn reference_of(&self, text: &str) -> Option<String> {
        match decode(text, self.engine.config().limits.max_frame_bytes) {
            Ok(request) => request.reference,
            Err(bad) => bad.reference,
        }
    }

    fn user(&self) -> ChatResult<String> {
        self.user
            .clone()
            .ok_or_else(|| ChatError::new(ErrorCode::Unauthenticated, "log in first"))
    }

    /// Turns one request into the future that answers it.
    fn handle_request(&mut self, request: &Request) -> Handled {
        let engine = self.engine.clone();
        let reference = request.reference.clone();
        let user = self.user();
        let logged_in = self.user.is_some();
        let (session, outbox) = (self.id, self.outbox.clone());
        let address = self.address.clone();
        match request.frame.clone() {
            ClientFrame::Ping {} => {
                Box::pin(async move { Ok((Some(ServerFrame::Pong { reference }), Change::None)) })
            }
            ClientFrame::Register { username, password } => Box::pin(async move {
                let user = engine
                    .register_from(&username, &password, Some(&address))
                    .await?;
                Ok((
                    Some(ServerFrame::Registered { reference, user }),
                    Change::None,
                ))
            }),
            ClientFrame::Login { username, password } => Box::pin(async move {
                if logged_in {
                    return Err(already_authenticated());
                }
                let grant = engine
                    .login_from(&username, &password, Some(&address))
                    .await?;
                let change = Change::LoggedIn {
                    user: grant.user.clone(),
                    token: Some(grant.token.clone()),
                };
                let frame = ServerFrame::LoggedIn {
                    reference,
                    user: grant.user,
                    token: grant.token,
                    expires_at: grant.expires_at,
                };
                Ok((Some(frame), change))
            }),
            ClientFrame::Auth { token } => Box::pin(async move {
                if logged_in {
                    return Err(already_authenticated());
                }
                let user = engine.authenticate(&token).await?;
                let change = Change::LoggedIn {
                    user: user.clone(),
                    token: Some(token),
                };
                Ok((Some(ServerFrame::Authenticated { reference, user }), change))
            }),
            ClientFrame::Logout {} => {
                let token = self.token.clone();
                Box::pin(async move {
                    user?;
                    if let Some(token) = token {
                        // A token revoked elsewhere (or expired) still logs this session out.
                        match engine.logout(&token).await {
                            Err(e) if e.code != ErrorCode::InvalidToken => return Err(e),
                            _ => {}
                        }
                    }
                    Ok((
                        Some(ServerFrame::LoggedOut { reference }),
                        Change::LoggedOut,
                    ))
                })
            }
            ClientFrame::Join { room, since } => Box::pin(async move {
                let user = user?;
                let since = crate::engine::parse_cursor("since", since.as_deref())?;
                let joined = engine.join_membership(&user, &room).await?;
                enter(
                    joined,
                    Enter {
                        session,
                        user,
                        outbox,
                        reference,
                        since,
                    },
                )
                .await
            }),
            ClientFrame::Leave { room } => Box::pin(async move {
                let room = engine.leave(&user?, &room).await?;
                Ok((
                    Some(ServerFrame::Left {
                        reference,
                        room: room.clone(),
                    }),
                    Change::Left { room },
                ))
            }),
            ClientFrame::Send {
                room,
                text,
                client_id,
            } => Box::pin(async move {
                let user = user?;
                let output = match engine.submit(&user, &room, &text, client_id).await? {
                    Submitted::Message(event) => {
                        return Ok((Some(ServerFrame::ack(reference, event)), Change::None));
                    }
                    Submitted::Command(output) => output,
                };
                let change = match output.effect {
                    // `/join` is answered by the room's `joined` frame.
                    Some(Effect::Enter(name)) => {
                        let joined = engine.open_room(&user, &name, false).await?;
                        return enter(
                            joined,
                            Enter {
                                session,
                                user,
                                outbox,
                                reference,
                                since: None,
                            },
                        )
                        .await;
                    }
                    Some(Effect::Leave(room)) => Change::Left { room },
                    Some(Effect::Clear(_)) | None => Change::None,
                };
                let frame = ServerFrame::Command {
                    reference,
                    command: output.command.to_owned(),
                    room: output.room,
                    text: output.text,
                    data: output.data,
                };
                Ok((Some(frame), change))
            }),
            ClientFrame::History {
                room,
                before,
                limit,
            } => Box::pin(async move {
                let user = user?;
                let page = engine
                    .history(&user, &room, before.as_deref(), limit)
                    .await?;
                let room = engine.room_name(&user, &room).await?;
                let frame = ServerFrame::History {
                    reference,
                    room,
                    events: page.events,
                    more: page.more,
                };
                Ok((Some(frame), Change::None))
            }),
            ClientFrame::Rooms { after, limit } => Box::pin(async move {
                let page = engine.rooms_page(&user?, after.as_deref(), limit).await?;
                let frame = ServerFrame::Rooms {
                    reference,
                    rooms: page.rooms,
                    more: page.more,
                };
                Ok((Some(frame), Change::None))
            }),
            ClientFrame::Mentions {} => Box::pin(async move {
                let mentions = engine.take_mentions(&user?).await?;
                Ok((
                    Some(ServerFrame::Mentions {
                        reference,
                        mentions,
                    }),
                    Change::None,
                ))
            }),
            ClientFrame::Who { room } => Box::pin(async move {
                let (room, members) = engine.members(&user?, &room).await?;
                Ok((
                    Some(ServerFrame::Members {
                        reference,
                        room,
                        members,
                    }),
                    Change::None,
                ))
            }),
        }
    }

    fn apply(&mut self, change: Change, ctx: &mut Context<Self>) {
        match change {
            Change::None => {}
            Change::LoggedIn { user, token } => {
                info!(self.log, "session authenticated"; "user" => &user);
                self.engine.hub().do_send(Online {
                    user: user.clone(),
                    session: self.id,
                    outbox: self.outbox.clone(),
                });
                self.user = Some(user);
                self.token = token;
            }
            Change::LoggedOut => {
                self.leave_all_rooms();
                self.go_offline();
                self.token = None;
                // Unauthenticated again: the same deadline as a new connection.
                self.logouts += 1;
                self.arm_login_deadline(ctx);
            }
            Change::Entered { room, addr } => {
                self.rooms.insert(room, addr);
            }
            Change::Left { room } => {
                if let Some(addr) = self.rooms.remove(&room) {
                    addr.do_send(Exit { session: self.id });
                }
            }
        }
    }

    /// Closes the session if it is not logged in within the configured
    /// time (from now): a connection that never logs in only holds resources.
    fn arm_login_deadline(&mut self, ctx: &mut Context<Self>) {
        let deadline = self.engine.config().limits.login_deadline_secs;
        if deadline == 0 {
            return;
        }
        let round = self.logouts;
        ctx.run_later(Duration::from_secs(deadline), move |session, _| {
            if session.user.is_none() && session.logouts == round {
                info!(session.log, "closing a session that did not log in"; "after_secs" => deadline);
                session.outbox.close(CloseReason {
                    code: ErrorCode::Unauthenticated,
                    message: format!("not logged in within {deadline} s"),
                });
            }
        });
    }

    fn go_offline(&mut self) {
        if let Some(user) = self.user.take() {
            self.engine.hub().do_send(Offline {
                user,
                session: self.id,
            });
        }
    }

    fn leave_all_rooms(&mut self) {
        for (_, addr) in self.rooms.drain() {
            addr.do_send(Exit { session: self.id });
        }
    }
}

/// Audits a refused request.
fn audit_refusal(engine: &Engine, session: SessionId, user: Option<&str>, error: &ChatError) {
    info!(engine.audit(), "request refused"; "action" => "error", "session" => session,
        "user" => user.unwrap_or("-"), "code" => %error.code);
}

/// Enters a room the user is a member of; the room answers with `joined`.
async fn enter(
    (room, addr): (String, Addr<Room>),
    entry: Enter,
) -> ChatResult<(Option<ServerFrame>, Change)> {
    addr.send(entry).await??;
    Ok((None, Change::Entered { room, addr }))
}

fn already_authenticated() -> ChatError {
    ChatError::new(
        ErrorCode::AlreadyAuthenticated,
        "this session is already logged in",
    )
}

impl Actor for Session {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        debug!(self.log, "session started");
        Metrics::bump(&self.engine.shared().metrics.sessions_opened);
        self.arm_login_deadline(ctx);
        self.send(&ServerFrame::Hello {
            protocol: PROTOCOL.to_owned(),
            node: self.engine.node_id().to_owned(),
            limits: self.engine.limits(),
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        Metrics::bump(&self.engine.shared().metrics.sessions_closed);
        info!(self.log, "session ended"; "user" => self.user.as_deref().unwrap_or("-"));
        self.leave_all_rooms();
        self.go_offline();
    }
}

impl Handler<Inbound> for Session {
    type Result = ();

    fn handle(&mut self, Inbound(text): Inbound, ctx: &mut Context<Self>) {
        if self.engine.is_shutting_down() {
            let reference = self.reference_of(&text);
            self.refuse_in_order(
                ChatError::new(ErrorCode::ShuttingDown, "the server is shutting down"),
                reference,
            );
            return;
        }
        if !self.frames.try_take() {
            let reference = self.reference_of(&text);
            self.refuse_in_order(
                ChatError::new(ErrorCode::RateLimited, "too many frames; slow down"),
                reference,
            );
            return;
        }
        let request = match decode(&text, self.engine.config().limits.max_frame_bytes) {
            Ok(request) => request,
            Err(bad) => {
                self.refuse_in_order(bad.error, bad.reference);
                return;
            }
        };
        let reference = request.reference.clone();
        if let (
            ClientFrame::Send {
                room,
                text,
                client_id,
            },
            Some(user),
        ) = (&request.frame, &self.user)
        {
            // Messages to one room pipeline; a message to another room
            // waits for those before it, so the order they take effect in
            // is the order sent across rooms too.
            let same_room = self.answers.waiting() == 0 || self.sending_to.as_ref() == Some(room);
            if let Some(message) = message_text(text).filter(|_| same_room) {
                let say = (user.clone(), room.clone(), message.into_owned());
                self.sending_to = Some(room.clone());
                self.pipeline_message(say, client_id.clone(), reference, ctx);
                return;
            }
        }
        // Anything else waits for the messages sent before it.
        let earlier = self.answers.until_waiting_at_most(0);
        self.sending_to = None;
        let answer = self.handle_request(&request);
        let answer = async move {
            earlier.await;
            answer.await
        };
        // `wait` holds back the next frame until this one is answered, so a
        // client's frames take effect in the order it sent them.
        ctx.wait(
            answer
                .into_actor(self)
                .map(move |result, session, ctx| match result {
                    Ok((frame, change)) => {
                        session.apply(change, ctx);
                        if let Some(frame) = frame {
                            session.send(&frame);
                        }
                    }
                    Err(error) => session.send_error(error, reference),
                }),
        );
    }
}

impl Session {
    /// Refuses a frame; while messages before it wait for their answers,
    /// the refusal goes out after them.
    fn refuse_in_order(&mut self, error: ChatError, reference: Option<String>) {
        let waiting = self.answers.waiting();
        if waiting == 0 {
            self.send_error(error, reference);
            return;
        }
        if waiting >= MOST_WAITING_ANSWERS as u64 {
            // Logged once: frames keep coming until the transport closes.
            if !self.outbox.is_closed() {
                warn!(self.log, "too many frames waiting for their answers; closing the session";
                    "code" => %ErrorCode::RateLimited, "waiting" => waiting);
                self.outbox.close(CloseReason {
                    code: ErrorCode::RateLimited,
                    message: format!(
                        "more than {MOST_WAITING_ANSWERS} frames waiting for their answers"
                    ),
                });
            }
            return;
        }
        audit_refusal(&self.engine, self.id, self.user.as_deref(), &error);
        self.answers.take_place();
        let outbox = self.outbox.clone();
        self.answers.push(async move {
            outbox.push(ServerFrame::error(error, reference).encode());
        });
    }

    /// Handles a message frame without waiting for the messages before it
    /// to be stored: only until it is queued in its room (so the room takes
    /// a connection's messages in the order sent). Its answer goes out
    /// after theirs.
    fn pipeline_message(
        &mut self,
        (user, room, text): (String, String, String),
        client_id: Option<String>,
        reference: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        // At most `SENDS_IN_FLIGHT` answers wait: this message waits until
        // fewer than that wait before it.
        let room_for_one = self
            .answers
            .until_waiting_at_most(SENDS_IN_FLIGHT as u64 - 1);
        self.answers.take_place();
        let (engine, outbox, session) = (self.engine.clone(), self.outbox.clone(), self.id);
        // A room this session is in (named as it was joined) needs no
        // lookup: the session holds its actor.
        let open = self.rooms.get(&room).cloned();
        let queue = {
            let (engine, user) = (engine.clone(), user.clone());
            async move {
                room_for_one.await;
                engine
                    .queue_say(&user, &room, open, &text, client_id, false)
                    .await
            }
        };
        ctx.wait(
            queue
                .into_actor(self)
                .map(move |queued, this: &mut Session, _| {
                    // The answer runs outside the session's context: a later frame
                    // waits for it (`ctx.wait`), which holds back what the context
                    // itself would run. It goes out after the answers before it.
                    this.answers.push(async move {
                        let mut acked = None;
                        let result = match queued {
                            Ok(mut queued) => {
                                acked = queued.acked.take();
                                engine.finish_say(queued).await
                            }
                            Err(e) => Err(e),
                        };
                        let frame = match result {
                            Ok(event) => ServerFrame::ack(reference, event),
                            Err(error) => {
                                audit_refusal(&engine, session, Some(&user), &error);
                                ServerFrame::error(error, reference)
                            }
                        };
                        outbox.push(frame.encode());
                        // The bot the message addresses speaks after the ack.
                        if let Some(acked) = acked {
                            let _ = acked.send(());
                        }
                    });
                }),
        );
    }
}

impl Handler<Disconnect> for Session {
    type Result = ();

    fn handle(&mut self, _: Disconnect, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
