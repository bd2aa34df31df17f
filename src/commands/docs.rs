//! `tokaudit completions SHELL` and `tokaudit man`: generated from the clap definition, so
//! that they never drift from the flags the parser accepts.

use crate::cli::{Cli, CompletionsArgs};
use crate::exit;
use anyhow::Context;
use clap::CommandFactory;

/// Print the completion script for a shell.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<i32> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "tokaudit", &mut out);
    super::print(&String::from_utf8_lossy(&out))?;
    Ok(exit::SUCCESS)
}

/// Print the man page: the command, then one section per subcommand.
pub fn man() -> anyhow::Result<i32> {
    let cmd = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .context("cannot render the man page")?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("tokaudit-{}", sub.get_name());
        let page = clap_mangen::Man::new(sub.clone().display_name(name));
        page.render_name_section(&mut out)?;
        page.render_synopsis_section(&mut out)?;
        page.render_description_section(&mut out)?;
        page.render_options_section(&mut out)?;
        page.render_extra_section(&mut out)?;
    }
    super::print(&String::from_utf8_lossy(&out))?;
    Ok(exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand and a flag of each appear in the generated bash script and man page.
    #[test]
    fn completions_and_man_page_cover_every_subcommand() {
        let mut bash = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut Cli::command(),
            "tokaudit",
            &mut bash,
        );
        let bash = String::from_utf8(bash).unwrap();
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut page)
            .unwrap();
        let page = String::from_utf8(page).unwrap();
        for sub in Cli::command().get_subcommands() {
            assert!(bash.contains(sub.get_name()), "{}", sub.get_name());
            assert!(page.contains(sub.get_name()), "{}", sub.get_name());
        }
        assert!(bash.contains("--check-expect") && bash.contains("--baseline-optional"));
        assert!(
            page.contains("Exit codes"),
            "the exit codes are in the page"
        );
    }
}
