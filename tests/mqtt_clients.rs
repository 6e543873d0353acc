#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Users on MQTT: a client that speaks only MQTT chats through a broker the
//! nodes are connected to, with the same frames as over WebSocket. Real
//! Mosquitto brokers guarded by `examples/mesh`'s ACL, real nodes, the real
//! CLI (`--mqtt`), and raw MQTT clients for what the CLI would never try.

use futures_util::StreamExt;
use neuralchat_testkit::{Cli, CliOutput, MeshNode, Mosquitto, ServerProcess, WsClient};
use paho_mqtt as mqtt;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

async fn node(dir: &Path, id: &str, brokers: &[&Mosquitto], extra_toml: &str) -> ServerProcess {
    MeshNode {
        extra_toml,
        ..MeshNode::new(dir, id, brokers)
    }
    .start()
    .await
    .unwrap()
}

/// `--mqtt URL` for each broker, in order.
fn over_mqtt(brokers: &[&Mosquitto]) -> Vec<String> {
    brokers
        .iter()
        .flat_map(|b| {
            [
                "--mqtt".to_string(),
                format!("mqtt://127.0.0.1:{}", b.port()),
            ]
        })
        .collect()
}

/// Runs the CLI with `transport` options; it must succeed.
async fn ok(cli: &Cli, transport: &[String], args: &[&str], password: Option<&str>) -> CliOutput {
    let mut full: Vec<&str> = transport.iter().map(String::as_str).collect();
    full.extend_from_slice(args);
    let env: Vec<(&str, &str)> = password
        .map(|p| vec![("NEURALCHAT_PASSWORD", p)])
        .unwrap_or_default();
    let out = cli.run_with_env(&full, &env).await.unwrap();
    assert!(out.success(), "neuralchat-cli {full:?} failed: {out}");
    out
}

/// Registers `name` (password: `NAME-password`), logs in and joins
/// `general`, through `transport`.
async fn sign_up_in_general(cli: &Cli, transport: &[String], name: &str) {
    let password = format!("{name}-password");
    ok(cli, transport, &["register", name], Some(&password)).await;
    ok(cli, transport, &["login", name], Some(&password)).await;
    ok(cli, transport, &["join", "general"], None).await;
}

/// The `text` of each JSON event line.
fn texts(out: &CliOutput) -> Vec<String> {
    out.lines()
        .iter()
        .map(|line| {
            let event: Value = serde_json::from_str(line).unwrap();
            event["text"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn an_mqtt_user_and_a_websocket_user_chat_across_brokers_and_nodes() {
    let llama = neuralchat_testkit::LlamaServer::start().await.unwrap();
    let olga = format!(
        "[[bots]]\nname = \"Olga\"\nbackend = \"openai\"\nurl = \"{}\"\nmodel = \"tiny\"\n\
         system_prompt = \"You are Olga.\"\nmax_tokens = 16\ntimeout_secs = 20\n",
        llama.url()
    );
    let mut b1 = Mosquitto::start_guarded().await.unwrap();
    let b2 = Mosquitto::start_guarded().await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(dir_a.path(), "node-a", &[&b1, &b2], &olga).await;
    let b = node(dir_b.path(), "node-b", &[&b1, &b2], &olga).await;
    let homes = tempfile::tempdir().unwrap();
    let alice = Cli::new(homes.path().join("alice")).unwrap();
    let bob = Cli::new(homes.path().join("bob")).unwrap();
    let mqtt = over_mqtt(&[&b1, &b2]);
    let ws_b = vec!["--server".to_string(), b.ws_url()];

    // Alice exists only through MQTT; bob only through node B's WebSocket.
    sign_up_in_general(&alice, &mqtt, "alice").await;
    sign_up_in_general(&bob, &ws_b, "bob").await;
    let mut watcher = WsClient::connect(&a.ws_url()).await.unwrap();
    watcher.set_deadline(DEADLINE);
    watcher
        .register_and_login("watcher", "watcher-password")
        .await
        .unwrap();
    watcher.join("general").await.unwrap();

    // MQTT -> WebSocket on the other node, and a bot's reply streams to both.
    ok(&alice, &mqtt, &["send", "general", "hello from mqtt"], None).await;
    let heard = watcher
        .recv_until(|f| f["type"] == "event" && f["event"]["text"] == "hello from mqtt")
        .await
        .unwrap();
    assert_eq!(heard["event"]["author"], "alice");
    let asked = ok(
        &alice,
        &mqtt,
        &["send", "general", "Olga, say hello", "--json"],
        None,
    )
    .await;
    let question = watcher
        .recv_until(|f| f["type"] == "event" && f["event"]["text"] == "Olga, say hello")
        .await
        .unwrap();
    let (streamed, reply) = watcher
        .bot_reply(question["event"]["id"].as_str().unwrap())
        .await
        .unwrap();
    assert!(!streamed.is_empty(), "pieces streamed before the reply");
    let reply_text = reply["text"].as_str().unwrap();
    assert!(
        asked.stdout.contains(reply_text),
        "the MQTT user saw the reply stream in: {asked}"
    );

    // `chat` over MQTT: typed lines arrive on the other node.
    let mut chat: Vec<&str> = mqtt.iter().map(String::as_str).collect();
    chat.extend(["chat", "general"]);
    let out = alice
        .run_with_stdin(&chat, "typed in chat over mqtt\n/quit\n")
        .await
        .unwrap();
    assert!(out.success(), "chat over MQTT failed: {out}");
    watcher
        .recv_until(|f| f["type"] == "event" && f["event"]["text"] == "typed in chat over mqtt")
        .await
        .unwrap();

    // Alice tails over MQTT (first broker b1); bob writes from node B.
    let mut tail_args: Vec<&str> = mqtt.iter().map(String::as_str).collect();
    tail_args.extend([
        "tail",
        "general",
        "--count",
        "4",
        "--timeout",
        "60",
        "--json",
    ]);
    let tail = alice.spawn(&tail_args).unwrap();
    watcher.wait_online("general", "alice", true).await.unwrap();
    ok(&bob, &ws_b, &["send", "general", "before the crash"], None).await;
    // Alice's broker dies; bob goes on at once: the CLI fails over to b2
    // and resumes after the last event it printed.
    b1.kill().await.unwrap();
    for text in ["after 1", "after 2", "after 3"] {
        ok(&bob, &ws_b, &["send", "general", text], None).await;
    }
    let out = tail.wait(Duration::from_secs(90)).await.unwrap();
    assert!(out.success(), "tail over MQTT failed: {out}");
    assert_eq!(
        texts(&out),
        ["before the crash", "after 1", "after 2", "after 3"],
        "{out}"
    );

    // History over MQTT equals history over WebSocket.
    let over_b2 = over_mqtt(&[&b2]);
    let mqtt_history = ok(&alice, &over_b2, &["history", "general", "--json"], None).await;
    let ws_history = ok(&bob, &ws_b, &["history", "general", "--json"], None).await;
    assert_eq!(texts(&mqtt_history), texts(&ws_history));
    drop((a, b));
}

/// A raw MQTT client: connects anonymously with its own id (MQTT v5, or
/// 3.1.1) and collects everything the broker delivers to it.
struct Raw {
    id: String,
    client: mqtt::AsyncClient,
    stream: mqtt::AsyncReceiver<Option<mqtt::Message>>,
}

impl Raw {
    async fn connect(broker: &Mosquitto, id: &str) -> Raw {
        Self::connect_version(broker, id, mqtt::MQTT_VERSION_5).await
    }

    async fn connect_version(broker: &Mosquitto, id: &str, version: u32) -> Raw {
        let mut client = mqtt::CreateOptionsBuilder::new()
            .server_uri(broker.url())
            .client_id(id)
            .mqtt_version(version)
            .create_client()
            .unwrap();
        let stream = client.get_stream(10_000);
        let options = if version == mqtt::MQTT_VERSION_5 {
            mqtt::ConnectOptionsBuilder::new_v5()
                .clean_start(true)
                .finalize()
        } else {
            mqtt::ConnectOptionsBuilder::new_v3()
                .clean_session(true)
                .finalize()
        };
        client.connect(options).await.unwrap();
        Raw {
            id: id.to_owned(),
            client,
            stream,
        }
    }

    fn topic(&self, rest: &str) -> String {
        format!("neuralchat/v1/clients/{}/{rest}", self.id)
    }

    /// Opens a session; returns the node that took it.
    async fn open(&mut self) -> String {
        self.client.subscribe(self.topic("out"), 1).await.unwrap();
        self.publish(&self.topic("open"), "").await;
        let hello = self.next_frame().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        hello["node"].as_str().unwrap().to_owned()
    }

    /// Publishes; a refusal by the broker's ACL is not an error here.
    async fn publish(&self, topic: &str, payload: &str) {
        let message = mqtt::Message::new(topic, payload, 1);
        let _ = self.client.publish(message).await;
    }

    async fn next_frame(&mut self) -> Value {
        let message = tokio::time::timeout(DEADLINE, self.stream.next())
            .await
            .expect("a frame in time")
            .flatten()
            .expect("connected");
        serde_json::from_slice(message.payload()).unwrap()
    }

    /// Sends `frame` to `node` and returns the answer with the same `ref`.
    async fn request(&mut self, node: &str, frame: Value) -> Value {
        let reference = frame["ref"].clone();
        self.publish(&self.topic(&format!("in/{node}")), &frame.to_string())
            .await;
        loop {
            let answer = self.next_frame().await;
            if answer["ref"] == reference.to_string().trim_matches('"') {
                return answer;
            }
        }
    }

    /// Everything delivered so far, without waiting.
    fn drain(&mut self) -> Vec<mqtt::Message> {
        let mut all = Vec::new();
        while let Ok(Some(message)) = self.stream.try_recv() {
            all.push(message);
        }
        all
    }
}

#[tokio::test]
async fn an_mqtt_client_reads_and_writes_only_its_own_session() {
    let broker = Mosquitto::start_guarded().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), "node-a", &[&broker], "").await;

    // The spy subscribes to everything it can name, nodes' traffic included.
    let mut spy = Raw::connect(&broker, "spy-0123456789abcdef").await;
    for filter in [
        "#",
        "neuralchat/#",
        "neuralchat/v1/mesh/#",
        "neuralchat/v1/clients/+/out",
        "neuralchat/v1/clients/+/in/+",
        "$share/spies/neuralchat/v1/clients/+/open",
        "$SYS/#",
    ] {
        let _ = spy.client.subscribe(filter, 1).await;
    }

    // Carol chats through her own MQTT session, in MQTT 3.1.1 (nothing of
    // the client side needs v5).
    let mut carol =
        Raw::connect_version(&broker, "carol-0123456789abcdef", mqtt::MQTT_VERSION_3_1_1).await;
    let node_id = carol.open().await;
    assert_eq!(node_id, "node-a");
    let secret = "carol-very-secret-password";
    let registered = carol
        .request(
            &node_id,
            json!({"type": "register", "ref": 1, "username": "carol", "password": secret}),
        )
        .await;
    assert_eq!(registered["type"], "registered", "{registered}");
    let login = carol
        .request(
            &node_id,
            json!({"type": "login", "ref": 2, "username": "carol", "password": secret}),
        )
        .await;
    let token = login["token"].as_str().unwrap().to_owned();
    let joined = carol
        .request(
            &node_id,
            json!({"type": "join", "ref": 3, "room": "general"}),
        )
        .await;
    assert_eq!(joined["type"], "joined", "{joined}");
    let private = "a private sentence 4711";
    let sent = carol
        .request(
            &node_id,
            json!({"type": "send", "ref": 4, "room": "general", "text": private}),
        )
        .await;
    assert_eq!(sent["type"], "ack", "{sent}");

    // Mallory writes into carol's session and opens one in her name: the
    // broker refuses both.
    let mallory = Raw::connect(&broker, "mallory-0123456789ab").await;
    let forged = json!({"type": "send", "ref": 9, "room": "general", "text": "forged by mallory"});
    mallory
        .publish(&carol.topic(&format!("in/{node_id}")), &forged.to_string())
        .await;
    mallory.publish(&carol.topic("open"), "").await;
    mallory.publish(&carol.topic("close"), "").await;
    mallory
        .publish("neuralchat/v1/mesh/events/node-a", "forged mesh payload")
        .await;

    // Carol's session still works and holds exactly what she wrote.
    let history = carol
        .request(
            &node_id,
            json!({"type": "history", "ref": 5, "room": "general"}),
        )
        .await;
    let texts: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "message")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, [private], "{history}");
    assert!(
        !a.log_tail().contains("mesh payload refused"),
        "the broker kept mallory's payload off the mesh"
    );

    // The spy got nothing at all: no text, token, password or hash.
    let seen = spy.drain();
    let dump: String = seen
        .iter()
        .map(|m| format!("{} {}\n", m.topic(), String::from_utf8_lossy(m.payload())))
        .collect();
    for needle in [private, secret, token.as_str(), "$2", "carol"] {
        assert!(!dump.contains(needle), "the spy saw {needle:?}:\n{dump}");
    }
    assert!(seen.is_empty(), "the spy received:\n{dump}");
}

/// How many MQTT sessions `node` has opened so far.
fn sessions_opened(node: &ServerProcess) -> usize {
    node.log_text().matches("mqtt session opened").count()
}

#[tokio::test]
async fn an_mqtt_user_whose_node_dies_goes_on_through_another_node() {
    let broker = Mosquitto::start_guarded().await.unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut nodes = [
        node(dir_a.path(), "node-a", &[&broker], "").await,
        node(dir_b.path(), "node-b", &[&broker], "").await,
    ];
    let homes = tempfile::tempdir().unwrap();
    let alice = Cli::new(homes.path().join("alice")).unwrap();
    let mqtt = over_mqtt(&[&broker]);
    sign_up_in_general(&alice, &mqtt, "alice").await;

    // Alice tails; the node that took her session is the one to die.
    let before = nodes.each_ref().map(sessions_opened);
    let mut tail_args: Vec<&str> = mqtt.iter().map(String::as_str).collect();
    tail_args.extend([
        "tail",
        "general",
        "--count",
        "3",
        "--timeout",
        "60",
        "--json",
    ]);
    let tail = alice.spawn(&tail_args).unwrap();
    let started = std::time::Instant::now();
    let holder = loop {
        let now = nodes.each_ref().map(sessions_opened);
        if let Some(i) = (0..2).find(|&i| now[i] > before[i]) {
            break i;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no node took the tail's session"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let survivor = 1 - holder;
    let mut bob = WsClient::connect(&nodes[survivor].ws_url()).await.unwrap();
    bob.set_deadline(DEADLINE);
    bob.register_and_login("bob", "bob-password").await.unwrap();
    bob.join("general").await.unwrap();
    bob.wait_online("general", "alice", true).await.unwrap();
    bob.send_message("general", "before the crash", None)
        .await
        .unwrap();
    nodes[holder].kill().await.unwrap();
    bob.send_message("general", "after 1", None).await.unwrap();
    bob.send_message("general", "after 2", None).await.unwrap();

    let out = tail.wait(Duration::from_secs(90)).await.unwrap();
    assert!(out.success(), "tail over MQTT failed: {out}");
    assert_eq!(
        texts(&out),
        ["before the crash", "after 1", "after 2"],
        "{out}"
    );
    assert!(
        sessions_opened(&nodes[survivor]) > before[survivor],
        "the survivor took the session over"
    );
}

#[tokio::test]
async fn a_node_holds_at_most_its_mqtt_sessions() {
    let broker = Mosquitto::start_guarded().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let _a = node(
        dir.path(),
        "node-a",
        &[&broker],
        "[limits]\nmqtt_sessions = 1\n",
    )
    .await;
    let mut first = Raw::connect(&broker, "first-0123456789abcdef").await;
    assert_eq!(first.open().await, "node-a");
    // A second client is refused while the first holds the only session.
    let mut second = Raw::connect(&broker, "second-0123456789abcde").await;
    second
        .client
        .subscribe(second.topic("out"), 1)
        .await
        .unwrap();
    second.publish(&second.topic("open"), "").await;
    let refused = second.next_frame().await;
    assert_eq!(
        (&refused["type"], &refused["code"]),
        (&json!("error"), &json!("rate_limited")),
        "{refused}"
    );
    // Opening again replaces a session rather than adding one.
    first.publish(&first.topic("open"), "").await;
    assert_eq!(first.next_frame().await["type"], "hello");
    // Once the first closes, the second gets in.
    first.publish(&first.topic("close"), "").await;
    let started = std::time::Instant::now();
    loop {
        second.publish(&second.topic("open"), "").await;
        let frame = second.next_frame().await;
        if frame["type"] == "hello" {
            break;
        }
        assert_eq!(frame["code"], "rate_limited", "{frame}");
        assert!(started.elapsed() < DEADLINE, "the second never got in");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn frames_still_queued_when_a_client_closes_its_session_are_not_handled() {
    let broker = Mosquitto::start_guarded().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), "node-a", &[&broker], "").await;
    let mut dave = Raw::connect(&broker, "dave-0123456789abcdef").await;
    let node_id = dave.open().await;
    let password = "dave-long-password";
    for (n, frame) in [
        json!({"type": "register", "ref": 1, "username": "dave", "password": password}),
        json!({"type": "login", "ref": 2, "username": "dave", "password": password}),
        json!({"type": "join", "ref": 3, "room": "general"}),
    ]
    .into_iter()
    .enumerate()
    {
        let answer = dave.request(&node_id, frame).await;
        assert!(answer["type"] != "error", "frame {n}: {answer}");
    }
    // Another writer holds the node's database: dave's message waits to be
    // stored, the ping after it waits for its answer, and the frames after
    // that wait in the session's queue.
    let writer = neuralchat_testkit::WriteLock::hold(a.database()).unwrap();
    let input = dave.topic(&format!("in/{node_id}"));
    dave.publish(
        &input,
        &json!({"type": "send", "ref": "s1", "room": "general", "text": "held"}).to_string(),
    )
    .await;
    for n in 1..=5 {
        dave.publish(
            &input,
            &json!({"type": "ping", "ref": format!("p{n}")}).to_string(),
        )
        .await;
    }
    dave.publish(&dave.topic("close"), "").await;
    // The session ends at the close, while its message still waits.
    let started = std::time::Instant::now();
    while !a.log_text().contains("mqtt session ended") {
        assert!(started.elapsed() < DEADLINE, "{}", a.log_tail());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writer.release().unwrap();
    // A new session's frames come after anything the old one published:
    // nothing of the old session (no ack, no pong) is there before them.
    dave.publish(&dave.topic("open"), "").await;
    let mut old = Vec::new();
    let hello = loop {
        let frame = dave.next_frame().await;
        if frame["type"] == "hello" {
            break frame;
        }
        old.push(frame);
    };
    let input = dave.topic(&format!("in/{}", hello["node"].as_str().unwrap()));
    dave.publish(&input, &json!({"type": "ping", "ref": "p9"}).to_string())
        .await;
    loop {
        let frame = dave.next_frame().await;
        if frame["ref"] == "p9" {
            break;
        }
        old.push(frame);
    }
    assert!(old.is_empty(), "{old:?}");
}
