//! Ctrl-C.

/// Resolves at the next Ctrl-C; never, if the signal cannot be watched.
/// Once something has watched for it, Ctrl-C no longer kills the process:
/// every long wait must watch for it too (see `commands::with_client`).
pub async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}
