//! `tokenwarden completions SHELL` (clap_complete) and `tokenwarden man` (clap_mangen): both are
//! generated from the same command line the binary parses ([`crate::cli::command`]), so they
//! never drift from it.

use crate::output::Printer;
use anyhow::Result;
use std::io::Write as _;

/// Arguments of `tokenwarden completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Install:
  bash:  tokenwarden completions bash > ~/.local/share/bash-completion/completions/tokenwarden
  zsh:   tokenwarden completions zsh > ~/.zfunc/_tokenwarden   (with fpath+=~/.zfunc before compinit)
  fish:  tokenwarden completions fish > ~/.config/fish/completions/tokenwarden.fish")]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Arguments of `tokenwarden man`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Install: tokenwarden man > ~/.local/share/man/man1/tokenwarden.1
With --dir, one page per subcommand too: tokenwarden-token.1, tokenwarden-exec.1, …")]
pub struct ManArgs {
    /// Write tokenwarden.1 and a page per subcommand into this directory instead of printing
    /// the main page.
    #[arg(long, value_name = "DIR")]
    dir: Option<std::path::PathBuf>,
}

/// Prints the completion script.
pub fn run(_out: &Printer, args: CompletionsArgs) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut crate::cli::command(),
        "tokenwarden",
        &mut script,
    );
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&script)?;
    stdout.flush()?;
    Ok(())
}

/// Prints the man page, or writes all of them into `--dir`.
pub fn man(out: &Printer, args: ManArgs) -> Result<()> {
    let command = crate::cli::command();
    if let Some(dir) = args.dir {
        std::fs::create_dir_all(&dir)?;
        clap_mangen::generate_to(command, &dir)?;
        if !out.json() {
            out.err(format!("man pages written to {}", dir.display()));
        }
        return Ok(());
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&page)?;
    stdout.flush()?;
    Ok(())
}
