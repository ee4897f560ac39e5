//! One module per subcommand, and the options every subcommand shares.

pub mod agent;
pub mod browser;
pub mod completions;
pub mod context;
pub mod demo;
pub mod doctor;
pub mod env;
pub mod events;
pub mod exec;
pub mod git_credential;
pub mod login;
pub mod logout;
pub mod mock_server;
pub mod profile;
pub mod proxy;
pub mod request;
pub mod stats;
pub mod status;
pub mod store;
pub mod token;

/// The help heading of the options every subcommand accepts.
const GLOBAL: &str = "Global options";

/// Options accepted before or after any subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// The profile to use (from config.toml).
    #[arg(
        long,
        global = true,
        env = "TOKENWARDEN_PROFILE",
        default_value = "default",
        help_heading = GLOBAL
    )]
    pub profile: String,
    /// Whether the profile was named (--profile or TOKENWARDEN_PROFILE) rather than the default.
    #[arg(skip)]
    pub profile_explicit: bool,
    /// Print results on stdout, and errors and warnings on stderr, as JSON.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Print every HTTP exchange on stderr, with secrets replaced by fingerprints
    /// (or TOKENWARDEN_TRACE_HTTP=1).
    #[arg(
        long,
        global = true,
        env = "TOKENWARDEN_TRACE_HTTP",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new(),
        hide_env = true,
        help_heading = GLOBAL
    )]
    pub trace_http: bool,
    /// When to colour the output: auto (a terminal, unless NO_COLOR is set; CLICOLOR_FORCE
    /// colours a pipe too), always, never.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        value_name = "WHEN",
        help_heading = GLOBAL
    )]
    pub color: crate::output::color::ColorWhen,
    /// Do not use a running agent (as TOKENWARDEN_AGENT=0 does): work on the store directly.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub no_agent: bool,
    /// More log output (-v, -vv); RUST_LOG overrides. With -v an error shows its whole chain
    /// of causes.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
}
