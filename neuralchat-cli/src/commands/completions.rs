//! `completions SHELL`: prints a completion script for bash, zsh, fish,
//! elvish or PowerShell (clap_complete), generated from the same argument
//! definitions as `--help`.

use crate::args::Cli;
use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;
use std::io::Write;

/// Writes the completion script for `shell` to stdout.
pub fn print(shell: Shell) -> Result<()> {
    let mut command = Cli::command();
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_name_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut command = Cli::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "neuralchat-cli", &mut script);
            let script = String::from_utf8(script).unwrap();
            for word in ["neuralchat-cli", "history", "no-wait", "server"] {
                assert!(script.contains(word), "{shell}: no {word}");
            }
        }
    }
}
