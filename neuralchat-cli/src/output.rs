//! Where results go: stdout, with `--json` one JSON object per line,
//! otherwise lines for people made by [`Renderer`] (coloured when stdout is
//! a terminal and `NO_COLOR` is not set, plain when piped).

use crate::render::Renderer;
use anyhow::Result;
use neuralchat_core::Event;
use serde::Serialize;
use std::io::{IsTerminal, Write};

/// The environment variable that turns colour off (https://no-color.org).
const NO_COLOR_ENV: &str = "NO_COLOR";

/// Prints results on stdout, as JSON lines or as human text.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
    render: Renderer,
    terminal: bool,
}

impl Output {
    /// JSON lines when `json`, human text otherwise; colour when stdout is
    /// a terminal (and `NO_COLOR` is unset or empty).
    pub fn new(json: bool) -> Self {
        let terminal = std::io::stdout().is_terminal();
        let no_color = std::env::var_os(NO_COLOR_ENV).is_some_and(|v| !v.is_empty());
        Self {
            json,
            render: Renderer::new(terminal && !json && !no_color),
            terminal,
        }
    }

    /// Whether output is JSON lines.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Whether stdout is a terminal.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// The renderer for human lines.
    pub fn render(&self) -> &Renderer {
        &self.render
    }

    /// Prints an event: the event object with `--json`, a line otherwise.
    /// `show_room` names the room on message lines.
    pub fn event(&self, event: &Event, show_room: bool) -> Result<()> {
        if self.json {
            self.json(event)
        } else {
            self.line(&self.render.event_line(event, show_room))
        }
    }

    /// Prints a value as one JSON line.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.line(&serde_json::to_string(value)?)
    }

    /// Prints text without ending the line (a streaming reply), and flushes it.
    pub fn partial(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        write!(out, "{text}")?;
        out.flush()?;
        Ok(())
    }

    /// Prints a line and flushes it, so pipes see it at once.
    pub fn line(&self, line: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        Ok(())
    }

    /// Prints lines.
    pub fn lines(&self, lines: &[String]) -> Result<()> {
        lines.iter().try_for_each(|line| self.line(line))
    }
}
