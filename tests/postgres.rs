#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The two-user WebSocket scenario against a server on PostgreSQL.

use neuralchat_testkit::{scenario, PgFixture, ServerOptions, ServerProcess};

#[tokio::test]
async fn two_users_chat_on_postgres() {
    let pg = PgFixture::start().unwrap();
    let url = pg.create_database("chat_ws").unwrap();
    let server = ServerProcess::start(ServerOptions::new().database(url).relaxed_limits())
        .await
        .unwrap();
    let sent = match scenario::two_users_chat(&server).await {
        Ok(sent) => sent,
        Err(e) => panic!("{e:#}\n--- server log tail ---\n{}", server.log_tail()),
    };
    // The messages really are in PostgreSQL, each once, in id order.
    let stored = pg
        .psql_in(
            "chat_ws",
            "select id from events where kind = 'message' and room = 'general' order by id",
        )
        .unwrap();
    let stored: Vec<&str> = stored.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(
        stored, sent,
        "the events table holds other messages than were sent"
    );
}
