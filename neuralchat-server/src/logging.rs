//! The root logger: human-readable on a terminal or JSON lines, written
//! asynchronously; audit records are the ones tagged `stream=audit`.

use crate::config::{LogConfig, LogFormat};
use slog::{o, Drain, Level, Logger};

/// Builds the root logger; keep the guard alive until exit so the last
/// records are flushed.
pub fn init(config: &LogConfig) -> (Logger, slog_async::AsyncGuard) {
    let level = config.level.parse::<Level>().unwrap_or(Level::Info);
    let drain: Box<dyn Drain<Ok = (), Err = slog::Never> + Send> = match config.format {
        LogFormat::Terminal => {
            let decorator = slog_term::TermDecorator::new().stderr().build();
            Box::new(slog_term::FullFormat::new(decorator).build().fuse())
        }
        LogFormat::Json => Box::new(
            slog_json::Json::new(std::io::stdout())
                .add_default_keys()
                .build()
                .fuse(),
        ),
    };
    let drain = slog::LevelFilter::new(drain, level).fuse();
    let (drain, guard) = slog_async::Async::new(drain)
        .chan_size(4096)
        .build_with_guard();
    let log = Logger::root(drain.fuse(), o!("app" => "neuralchat-server"));
    (log, guard)
}
