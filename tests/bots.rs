#![allow(clippy::unwrap_used, clippy::expect_used)]
//! AI bots end to end: the real server, a real llama.cpp `llama-server`
//! with the tiny test model (behind a recording proxy, so the tests see the
//! context each call sent), and a named stand-in for Ollama's native API.

use neuralchat_testkit::ollama::{STANDIN_TOKENS, STANDIN_WORDS};
use neuralchat_testkit::{
    LlamaServer, OllamaStandIn, RecordingProxy, ServerOptions, ServerProcess, WsClient,
};
use serde_json::{json, Value};
use std::time::Duration;
use tempfile::TempDir;

/// Everything one test needs.
struct Setup {
    server: ServerProcess,
    llama: LlamaServer,
    proxy: RecordingProxy,
    ollama: OllamaStandIn,
    _dir: TempDir,
}

/// A server with three bots: Olga (short replies) and Longa (long replies,
/// one question per user) on llama-server, Boris on the Ollama stand-in with
/// a tiny daily budget.
async fn setup() -> Setup {
    let llama = LlamaServer::start().await.unwrap();
    let proxy = RecordingProxy::start(llama.port()).await.unwrap();
    let ollama = OllamaStandIn::start().await.unwrap();
    let dir = TempDir::new().unwrap();
    let config = format!(
        r#"
[[bots]]
name = "Olga"
aliases = ["Ольга"]
backend = "openai"
url = "{proxy}"
model = "tiny-llama"
system_prompt = "You are Olga."
context_messages = 10
max_tokens = 24
timeout_secs = 10

[[bots]]
name = "Longa"
backend = "openai"
url = "{proxy}"
model = "tiny-llama"
system_prompt = "You talk a lot."
max_tokens = 1500
per_user_queue = 1
timeout_secs = 10

[[bots]]
name = "Boris"
backend = "ollama"
url = "{ollama}"
model = "standin"
system_prompt = "You are Boris."
daily_token_budget = 10
"#,
        proxy = proxy.url(),
        ollama = ollama.url()
    );
    let path = dir.path().join("neuralchat.toml");
    let server = ServerProcess::start(
        ServerOptions::new()
            .relaxed_limits()
            .config_file(&path, &config)
            .unwrap(),
    )
    .await
    .unwrap();
    Setup {
        server,
        llama,
        proxy,
        ollama,
        _dir: dir,
    }
}

async fn user(setup: &Setup, name: &str) -> WsClient {
    let mut c = WsClient::connect(&setup.server.ws_url()).await.unwrap();
    c.set_deadline(Duration::from_secs(30));
    c.register_and_login(name, "password1").await.unwrap();
    c.join("general").await.unwrap();
    c
}

/// Waits for the bot's reply to `question`: returns the deltas' text and the final event.
async fn reply_to(c: &mut WsClient, question: &str) -> (String, Value) {
    c.bot_reply(question).await.unwrap()
}

/// Waits until the server's log holds `needle` (the log is written
/// asynchronously: a line may follow the frames it is about).
async fn logged(server: &ServerProcess, needle: &str) {
    let started = std::time::Instant::now();
    while !server.log_text().contains(needle) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no {needle:?} in the log:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ask(c: &mut WsClient, text: &str) -> String {
    let ack = c.send_message("general", text, None).await.unwrap();
    ack["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_question_gets_a_streamed_stored_reply_seen_by_everyone() {
    let setup = setup().await;
    let mut alice = user(&setup, "alice").await;
    let mut bob = user(&setup, "bob").await;

    let question = ask(&mut alice, "Olga, tell me a joke").await;
    let (streamed, reply) = reply_to(&mut alice, &question).await;
    assert_eq!(reply["author"], "Olga");
    assert_eq!(reply["kind"], "message");
    assert!(!streamed.is_empty(), "tokens arrived as deltas");
    assert_eq!(
        reply["text"],
        streamed.as_str(),
        "the stored text is what was streamed"
    );
    assert!(reply.get("stopped").is_none());
    let (bob_streamed, bob_reply) = reply_to(&mut bob, &question).await;
    assert_eq!(
        (bob_streamed, bob_reply["id"].clone()),
        (streamed.clone(), reply["id"].clone())
    );

    let history = alice
        .request(json!({"type":"history","room":"general","limit":5}))
        .await
        .unwrap();
    let last = history["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (
            last["id"].clone(),
            last["text"].clone(),
            last["reply_to"].clone()
        ),
        (reply["id"].clone(), json!(streamed), json!(question))
    );

    // What the model was sent: the system prompt, then the question, named.
    let body = setup.proxy.request_bodies().pop().unwrap();
    assert_eq!(body["model"], "tiny-llama");
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"][0],
        json!({"role":"system","content":"You are Olga."})
    );
    assert_eq!(
        body["messages"].as_array().unwrap().last().unwrap()["content"],
        "alice: Olga, tell me a joke"
    );

    let bots = alice
        .request(json!({"type":"send","room":"general","text":"/bots"}))
        .await
        .unwrap();
    let names: Vec<&str> = bots["data"]["bots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Olga", "Longa", "Boris"]);
    assert!(bots["text"]
        .as_str()
        .unwrap()
        .contains("Olga (also Ольга): model tiny-llama via openai"));
}

/// Sends `text` with `client_id` and collects every frame up to the bot's
/// stored reply to it; returns the question's id and the frames.
async fn ask_and_collect(c: &mut WsClient, text: &str, client_id: &str) -> (String, Vec<Value>) {
    c.send_json(
        &json!({"type":"send","ref":client_id,"room":"general","text":text,"client_id":client_id}),
    )
    .await
    .unwrap();
    let frames = c
        .collect_until(|f| f["type"] == "event" && f["event"]["author"] == "Olga")
        .await
        .unwrap();
    let ack = frames
        .iter()
        .find(|f| f["type"] == "ack" && f["ref"] == client_id)
        .unwrap_or_else(|| panic!("no ack among {frames:?}"));
    (ack["id"].as_str().unwrap().to_owned(), frames)
}

/// The position of the first frame matching `pred`.
fn position(frames: &[Value], what: &str, pred: impl Fn(&Value) -> bool) -> usize {
    frames
        .iter()
        .position(pred)
        .unwrap_or_else(|| panic!("no {what} among {frames:?}"))
}

#[tokio::test]
async fn a_bot_prepares_while_the_question_is_stored_but_speaks_after_its_ack() {
    let setup = setup().await;
    let mut alice = user(&setup, "alice").await;

    // The bot is handed the question before it is stored (and calls its
    // model meanwhile), yet what it says comes after the question and its ack.
    let (first, frames) = ask_and_collect(&mut alice, "Olga, say one word", "q1").await;
    let event = position(&frames, "question event", |f| {
        f["type"] == "event" && f["event"]["id"] == first.as_str()
    });
    let ack = position(&frames, "ack", |f| f["type"] == "ack");
    let start = position(&frames, "reply_start", |f| {
        f["type"] == "reply_start" && f["event"]["reply_to"] == first.as_str()
    });
    assert!(event < ack && ack < start, "{frames:?}");
    let first_reply = frames.last().unwrap()["event"].clone();
    assert_eq!(first_reply["reply_to"], first.as_str());

    // The same message again (a client's retry, same client_id): the same
    // event, and no second answer. The next question's reply is the next
    // one to start, and its context (from the room's memory) holds the
    // first exchange once.
    let retry = alice
        .send_message("general", "Olga, say one word", Some("q1"))
        .await
        .unwrap();
    assert_eq!(retry["id"], first.as_str());
    let (second, frames) = ask_and_collect(&mut alice, "Olga, and another?", "q2").await;
    let starts: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "reply_start")
        .map(|f| &f["event"]["reply_to"])
        .collect();
    assert_eq!(starts, [&json!(second)], "{frames:?}");
    let body = setup.proxy.request_bodies().pop().unwrap();
    let contents: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    let reply_text = first_reply["text"].as_str().unwrap();
    assert_eq!(
        contents,
        [
            "You are Olga.",
            "alice: Olga, say one word",
            reply_text,
            "alice: Olga, and another?"
        ]
    );
    let history = alice
        .request(json!({"type":"history","room":"general","limit":50}))
        .await
        .unwrap();
    let answers = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reply_to"] == first.as_str())
        .count();
    assert_eq!(answers, 1, "{history}");

    // Sent back to back: a message, a question (which may be handed to the
    // bot while that message still waits to be stored), and a question
    // that waits behind the first one's reply. Each context holds what
    // came before it, the waiting one the reply before it too.
    for (text, reference) in [
        ("here is the log: disk full", "log"),
        ("Olga, what is wrong?", "q3"),
        ("Olga, and then?", "q4"),
    ] {
        alice
            .send_json(&json!({"type":"send","ref":reference,"room":"general","text":text}))
            .await
            .unwrap();
    }
    // Acks come in the order sent: q3's is among the frames before q4's.
    let frames = alice
        .collect_until(|f| f["type"] == "ack" && f["ref"] == "q4")
        .await
        .unwrap();
    let q3 = frames
        .iter()
        .find(|f| f["type"] == "ack" && f["ref"] == "q3")
        .map(|f| f["id"].clone())
        .unwrap_or_else(|| panic!("no ack for q3 among {frames:?}"));
    let q4 = frames.last().unwrap()["id"].clone();
    let (_, third_reply) = reply_to(&mut alice, q4.as_str().unwrap()).await;
    assert_eq!(third_reply["reply_to"], q4);
    let bodies = setup.proxy.request_bodies();
    let contents_of = |question: &str| -> Vec<String> {
        let body = bodies
            .iter()
            .rev()
            .find(|b| b["messages"].as_array().unwrap().last().unwrap()["content"] == question)
            .unwrap_or_else(|| panic!("no request for {question:?}"));
        body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    };
    let third = contents_of("alice: Olga, what is wrong?");
    assert!(
        third.contains(&"alice: here is the log: disk full".to_owned()),
        "{third:?}"
    );
    let fourth = contents_of("alice: Olga, and then?");
    let history = alice
        .request(json!({"type":"history","room":"general","limit":50}))
        .await
        .unwrap();
    let reply_to_q3 = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reply_to"] == q3)
        .unwrap_or_else(|| panic!("no reply to q3 in {history}"))["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        fourth.contains(&reply_to_q3),
        "{fourth:?} lacks {reply_to_q3:?}"
    );
}

#[tokio::test]
async fn aliases_and_mentions_trigger_other_words_do_not() {
    let setup = setup().await;
    let mut alice = user(&setup, "alice").await;

    for text in [
        "Volga is a long river",
        "Olgaaa!",
        "Вольга пришла",
        "write to me@olga.org",
    ] {
        ask(&mut alice, text).await;
    }
    let cyrillic = ask(&mut alice, "ОЛЬГА, расскажи шутку").await;
    let (_, reply) = reply_to(&mut alice, &cyrillic).await;
    assert_eq!(reply["author"], "Olga");
    let mention = ask(&mut alice, "what do you think, @olga?").await;
    let (_, reply) = reply_to(&mut alice, &mention).await;
    assert_eq!(reply["reply_to"], mention.as_str());
    // Only the two addressed messages reached the model.
    assert_eq!(setup.proxy.request_bodies().len(), 2);
    let texts: Vec<String> = setup
        .proxy
        .request_bodies()
        .iter()
        .map(|b| {
            b["messages"].as_array().unwrap().last().unwrap()["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        texts,
        [
            "alice: ОЛЬГА, расскажи шутку",
            "alice: what do you think, @olga?"
        ]
    );
}

#[tokio::test]
async fn stop_cancels_the_reply_and_keeps_the_partial_text() {
    let setup = setup().await;
    let mut alice = user(&setup, "alice").await;

    let question = ask(&mut alice, "Longa, tell me everything").await;
    let first = alice.recv_until(|f| f["type"] == "delta").await.unwrap();
    // Someone joining mid-reply gets what was said so far.
    let mut bob = user(&setup, "bob").await;
    let so_far = bob
        .recv_until(|f| f["type"] == "reply_start")
        .await
        .unwrap();
    assert_eq!(so_far["event"]["id"], first["id"]);
    assert!(so_far["event"]["text"]
        .as_str()
        .unwrap()
        .starts_with(first["text"].as_str().unwrap()));
    let stop = alice
        .request(json!({"type":"send","room":"general","text":"/stop"}))
        .await
        .unwrap();
    assert_eq!(stop["data"]["stopped"], json!(["Longa"]));
    let (rest, reply) = reply_to_after_start(&mut alice, &question).await;
    let streamed = format!("{}{rest}", first["text"].as_str().unwrap());
    assert_eq!(reply["stopped"], true);
    assert!(reply["text"].as_str().unwrap().starts_with(&streamed));
    let usage_words = reply["text"].as_str().unwrap().split_whitespace().count();
    assert!(usage_words < 1500, "stopped long before max_tokens");
    // The HTTP request was aborted: llama-server cancelled the generation.
    setup.llama.wait_for_log("cancel task").await.unwrap();
    // Nothing is running any more.
    let again = alice
        .request(json!({"type":"send","room":"general","text":"/stop"}))
        .await
        .unwrap();
    assert_eq!(again["text"], "no bot is replying here");
}

/// Like `reply_to`, for a reply whose start frame was already consumed.
async fn reply_to_after_start(c: &mut WsClient, question: &str) -> (String, Value) {
    let mut streamed = String::new();
    for frame in c.take_backlog() {
        if frame["type"] == "delta" {
            streamed.push_str(frame["text"].as_str().unwrap());
        }
        if frame["type"] == "event" && frame["event"]["reply_to"] == question {
            return (streamed, frame["event"].clone());
        }
    }
    let event = c.recv_event(|e| e["reply_to"] == question).await.unwrap();
    (streamed, event)
}

#[tokio::test]
async fn clear_starts_a_fresh_context() {
    let setup = setup().await;
    let mut alice = user(&setup, "alice").await;

    let first = ask(&mut alice, "Olga, remember the word apple").await;
    reply_to(&mut alice, &first).await;
    let second = ask(&mut alice, "Olga, which word?").await;
    reply_to(&mut alice, &second).await;
    let sent = setup.proxy.request_bodies();
    let contents: Vec<&str> = sent[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert!(
        contents.contains(&"alice: Olga, remember the word apple"),
        "{contents:?}"
    );
    assert_eq!(
        sent[1]["messages"][2]["role"], "assistant",
        "the bot's own reply is an assistant turn"
    );

    let clear = alice
        .request(json!({"type":"send","room":"general","text":"/clear"}))
        .await
        .unwrap();
    assert_eq!(clear["command"], "clear");
    let third = ask(&mut alice, "Olga, which word now?").await;
    reply_to(&mut alice, &third).await;
    let last = setup.proxy.request_bodies().pop().unwrap();
    assert_eq!(
        last["messages"],
        json!([{"role":"system","content":"You are Olga."},{"role":"user","content":"alice: Olga, which word now?"}])
    );
}

#[tokio::test]
async fn a_dead_backend_gives_an_error_and_a_restarted_one_works() {
    let mut setup = setup().await;
    let mut alice = user(&setup, "alice").await;

    let port = setup.llama.port();
    setup.llama.kill().await.unwrap();
    let question = ask(&mut alice, "Olga, are you there?").await;
    let (streamed, reply) = reply_to(&mut alice, &question).await;
    // The room is told why, where the model server should be and what to
    // do: streamed like any reply, stored as streamed, marked failed.
    let text = reply["text"].as_str().unwrap();
    assert_eq!(streamed, text);
    assert_eq!(reply["failed"], true, "{reply}");
    assert!(reply.get("stopped").is_none(), "{reply}");
    assert!(
        text.starts_with("Olga is unavailable: cannot connect"),
        "{text}"
    );
    assert!(text.contains(&setup.proxy.url()), "{text}");
    logged(&setup.server, "bot backend failed").await;
    let olga = |health: &Value| {
        health["bots"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == "Olga")
            .cloned()
            .unwrap()
    };
    let (status, health) = setup.server.http().get("/healthz", None).await.unwrap();
    assert_eq!(
        (status, health["status"].as_str()),
        (200, Some("degraded")),
        "{health}"
    );
    assert_eq!(olga(&health)["ok"], false, "{health}");

    setup.llama = LlamaServer::start_on(port).await.unwrap();
    let again = ask(&mut alice, "Olga, and now?").await;
    let (streamed, reply) = reply_to(&mut alice, &again).await;
    assert_eq!(reply["text"], streamed.as_str());
    assert!(!streamed.is_empty());
    // The failure note is not part of what Olga read (her context), while
    // the question before it is.
    let sent = setup.proxy.request_bodies().pop().unwrap().to_string();
    assert!(sent.contains("are you there?"), "{sent}");
    assert!(!sent.contains("unavailable"), "{sent}");
    let (_, health) = setup.server.http().get("/healthz", None).await.unwrap();
    assert_eq!(olga(&health)["ok"], true, "{health}");
    alice.ping().await.unwrap();
}

#[tokio::test]
async fn ollama_backend_budget_and_queue_limits() {
    let setup = setup().await;
    let mut alice = user(&setup, "alice").await;

    // Boris runs on the Ollama stand-in; its reply is the stand-in's words.
    let question = ask(&mut alice, "Boris, hello").await;
    let (streamed, reply) = reply_to(&mut alice, &question).await;
    assert_eq!(streamed, STANDIN_WORDS.concat());
    assert_eq!(reply["author"], "Boris");
    assert_eq!(setup.ollama.requests(), 1);
    assert!(
        STANDIN_TOKENS.0 + STANDIN_TOKENS.1 >= 10,
        "one call spends the budget"
    );
    // The daily budget (10 tokens) is spent: the next question is refused.
    let again = ask(&mut alice, "Boris, again").await;
    let refused = alice.recv_until(|f| f["type"] == "error").await.unwrap();
    assert_eq!(refused["code"], "token_budget_spent");
    assert_eq!(refused["reply_to"], again.as_str(), "names the question");
    assert_eq!(setup.ollama.requests(), 1);

    // Longa takes one question per user at a time.
    let first = ask(&mut alice, "Longa, go on").await;
    let another = ask(&mut alice, "Longa, and another").await;
    let busy = alice.recv_until(|f| f["type"] == "error").await.unwrap();
    assert_eq!(busy["code"], "bot_busy");
    assert_eq!(busy["reply_to"], another.as_str(), "names the question");
    alice
        .request(json!({"type":"send","room":"general","text":"/stop"}))
        .await
        .unwrap();
    let done = alice
        .recv_event(|e| e["reply_to"] == first.as_str())
        .await
        .unwrap();
    assert_eq!(done["stopped"], true);

    // The bots' calls are audited, without text.
    logged(&setup.server, "bot call").await;
    logged(&setup.server, "completion_tokens").await;
}
