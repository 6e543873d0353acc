//! The root logger: human-readable lines on stderr or JSON lines on
//! stdout. Records are formatted by the thread that logs them (every value
//! escaped and cut, see [`line`]) and written by one writer thread in
//! batches (see [`writer`]); audit records are the ones tagged
//! `stream=audit`.

mod line;
mod writer;

use crate::config::{LogConfig, LogFormat};
use slog::{o, Drain, Level, Logger, OwnedKVList, Record};
use writer::LineSender;

pub use writer::FlushGuard;

/// Formats each record into one line and hands it to the writer thread.
struct LineDrain {
    /// Terminal or JSON.
    format: LogFormat,
    /// Where formatted lines go.
    lines: LineSender,
}

impl Drain for LineDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record, values: &OwnedKVList) -> Result<(), slog::Never> {
        let text = match self.format {
            LogFormat::Terminal => line::terminal(record, values),
            LogFormat::Json => line::json(record, values),
        };
        self.lines.send(text);
        Ok(())
    }
}

/// Builds the root logger; keep the guard alive until exit so the last
/// records are written.
pub fn init(config: &LogConfig) -> (Logger, FlushGuard) {
    let level = config.level.parse::<Level>().unwrap_or(Level::Info);
    let (lines, guard) = match config.format {
        LogFormat::Terminal => writer::start(std::io::stderr()),
        LogFormat::Json => writer::start(std::io::stdout()),
    };
    let drain = LineDrain {
        format: config.format,
        lines,
    };
    let drain = slog::LevelFilter::new(drain, level).fuse();
    let log = Logger::root(drain, o!("app" => "neuralchat-server"));
    (log, guard)
}
