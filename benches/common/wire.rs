//! What the benches' raw senders write: a client's `send` frame as a
//! masked WebSocket text frame, and MQTT 3.1.1 packets for Mosquitto (QoS 0
//! and 1).
#![allow(dead_code)]

use crate::ws_member::FRAME_DEADLINE;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A `send` frame of `text` to `room`, as a client's masked text frame.
pub fn send_frame(room: &str, text: &str) -> Vec<u8> {
    let send = serde_json::json!({"type": "send", "ref": "f", "room": room, "text": text});
    ws_text_frame(send.to_string().as_bytes())
}

/// A QoS 0 PUBLISH of `{"text": text}` to `topic`.
pub fn mqtt_publish(topic: &str, text: &str) -> Vec<u8> {
    let payload = serde_json::json!({ "text": text }).to_string();
    let mut body = mqtt_string(topic);
    body.extend_from_slice(payload.as_bytes());
    mqtt_packet(0x30, body)
}

/// A QoS 1 PUBLISH of `{"text": text}` to `topic`, with `packet_id` (not 0).
pub fn mqtt_publish_qos1(topic: &str, text: &str, packet_id: u16) -> Vec<u8> {
    let payload = serde_json::json!({ "text": text }).to_string();
    let mut body = mqtt_string(topic);
    body.extend_from_slice(&packet_id.to_be_bytes());
    body.extend_from_slice(payload.as_bytes());
    mqtt_packet(0x32, body)
}

/// A client's (masked) WebSocket text frame.
fn ws_text_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0x17, 0xc3, 0x81];
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

fn mqtt_string(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

/// An MQTT packet: the first byte, the remaining length, the body.
fn mqtt_packet(first: u8, body: Vec<u8>) -> Vec<u8> {
    let mut packet = vec![first];
    let mut n = body.len();
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        packet.push(if n > 0 { byte | 0x80 } else { byte });
        if n == 0 {
            break;
        }
    }
    packet.extend(body);
    packet
}

/// Reads the broker's answer and checks that it is `expected` (a CONNACK
/// or SUBACK that grants what was asked).
async fn expect_reply(tcp: &mut TcpStream, expected: &[u8], what: &str) {
    let mut reply = vec![0u8; expected.len()];
    tokio::time::timeout(FRAME_DEADLINE, tcp.read_exact(&mut reply))
        .await
        .unwrap_or_else(|_| panic!("no {what}"))
        .unwrap_or_else(|e| panic!("reading {what}: {e}"));
    assert_eq!(reply, expected, "{what} refused");
}

/// An MQTT 3.1.1 client (clean session, keep-alive 10 minutes), subscribed
/// at QoS 0 to `topic` when there is one, ready for a raw reader.
pub async fn mqtt_subscriber(port: u16, id: &str, topic: Option<&str>) -> std::net::TcpStream {
    mqtt_subscriber_at(port, id, topic, 0).await
}

/// [`mqtt_subscriber`], subscribed at `qos` (0 or 1).
pub async fn mqtt_subscriber_at(
    port: u16,
    id: &str,
    topic: Option<&str>,
    qos: u8,
) -> std::net::TcpStream {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connecting to Mosquitto");
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    let mut connect = mqtt_string("MQTT");
    connect.extend_from_slice(&[4, 0x02, 0x02, 0x58]);
    connect.extend(mqtt_string(id));
    tcp.write_all(&mqtt_packet(0x10, connect))
        .await
        .expect("CONNECT");
    expect_reply(&mut tcp, &[0x20, 2, 0, 0], "CONNACK").await;
    if let Some(topic) = topic {
        let mut body = vec![0, 1];
        body.extend(mqtt_string(topic));
        body.push(qos);
        tcp.write_all(&mqtt_packet(0x82, body))
            .await
            .expect("SUBSCRIBE");
        expect_reply(&mut tcp, &[0x90, 3, 0, 1, qos], "SUBACK").await;
    }
    tcp.into_std().expect("a std TCP stream")
}
