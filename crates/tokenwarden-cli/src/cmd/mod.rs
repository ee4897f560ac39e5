//! One module per subcommand, and the options every subcommand shares.

pub mod context;
pub mod demo;
pub mod doctor;
pub mod events;
pub mod exec;
pub mod login;
pub mod logout;
pub mod mock_server;
pub mod profile;
pub mod request;
pub mod stats;
pub mod status;
pub mod store;
pub mod token;

/// Options accepted before or after any subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// The profile to use (from config.toml).
    #[arg(
        long,
        global = true,
        env = "TOKENWARDEN_PROFILE",
        default_value = "default"
    )]
    pub profile: String,
    /// Print results (and errors, on stderr) as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print every HTTP exchange on stderr, with secrets replaced by fingerprints.
    #[arg(long, global = true, env = "TOKENWARDEN_TRACE_HTTP", value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub trace_http: bool,
    /// When to colour the output: auto (a terminal, unless NO_COLOR is set; CLICOLOR_FORCE
    /// colours a pipe too), always, never.
    #[arg(long, global = true, value_enum, default_value_t, value_name = "WHEN")]
    pub color: crate::output::color::ColorWhen,
    /// More log output (-v, -vv); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}
