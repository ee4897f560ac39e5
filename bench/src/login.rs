//! A tokenwarden home with the profile `bench` logged in against mockauth (the device grant,
//! which mockauth approves at once with `auto_approve`), through the library's public API;
//! and `setup`, which also writes the same token as the files the peers read.

use crate::PROFILE;
use anyhow::{Context as _, Result, bail};
use std::fs;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;
use std::time::{Duration, SystemTime};
use tokenwarden::http::DevicePoll;
use tokenwarden::paths::Paths;
use tokenwarden::token::TokenSet;
use tokenwarden::warden::Warden;

/// How long the access tokens of the benchmarks' mockauth live: longer than any run, so a
/// cached token stays fresh throughout.
const ACCESS_TTL: Duration = Duration::from_secs(3600);

/// How long mockauth lets clients keep its discovery document, as providers say (Google: an
/// hour); its default, `no-cache`, would have every new process fetch it again.
const DISCOVERY_MAX_AGE: Duration = Duration::from_secs(3600);

/// Starts mockauth on 127.0.0.1 (an ephemeral port), approving every request at once.
pub async fn start_mock() -> Result<mockauth::ServerHandle> {
    let config = mockauth::Config {
        auto_approve: true,
        access_ttl: ACCESS_TTL,
        discovery_max_age: Some(DISCOVERY_MAX_AGE),
        ..mockauth::Config::default()
    };
    mockauth::Server::start(config)
        .await
        .context("could not start mockauth on 127.0.0.1")
}

/// Creates `home` (0700; it must not exist, or be empty) with a `config.toml` whose profile `bench` discovers its endpoints
/// from `issuer`, then logs it in; returns the tokens stored.
pub async fn logged_in_home(home: &Path, issuer: &str) -> Result<TokenSet> {
    if fs::read_dir(home).is_ok_and(|mut entries| entries.next().is_some()) {
        bail!(
            "{} is not empty: give a new directory for the home",
            home.display()
        );
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(home)
        .with_context(|| format!("could not create {}", home.display()))?;
    let config = format!(
        "[profiles.{PROFILE}]\nissuer = \"{issuer}\"\nclient_id = \"cli\"\n\
         scopes = [\"openid\", \"offline_access\"]\n"
    );
    fs::write(home.join("config.toml"), config).context("could not write config.toml")?;
    tokenwarden::http::install_crypto_provider();
    let warden = Warden::open(Paths::in_dir(home)).map_err(report)?;
    let profile = warden.profile(PROFILE).map_err(report)?.profile;
    let client = warden.client(&profile).map_err(report)?;
    let device = client.device_authorize().await.map_err(report)?;
    let tokens = match client
        .poll_device_token(&device.device_code)
        .await
        .map_err(report)?
    {
        DevicePoll::Granted(tokens) => tokens,
        DevicePoll::Pending | DevicePoll::SlowDown => {
            bail!("mockauth did not approve the device request at once (auto_approve is on)")
        }
    };
    warden
        .store()
        .map_err(report)?
        .replace(PROFILE, &tokens)
        .map_err(report)?;
    Ok(tokens)
}

/// `tokenwarden-bench setup`: the logged-in home, then the token as `token.txt` (alone, as a
/// helper that caches it in a file would keep it) and as `credentials.json` (the shape the
/// Node and Python helpers read: the tokens and the expiry in Unix seconds).
pub fn setup(home: &Path, out: &Path) -> Result<()> {
    let rt = tokio::runtime::Runtime::new().context("could not start a tokio runtime")?;
    let tokens = rt.block_on(async {
        let server = start_mock().await?;
        let tokens = logged_in_home(home, &server.issuer()).await;
        server.shutdown().await.context("mockauth did not stop")?;
        tokens
    })?;
    let expires_at = tokens
        .expires_at
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .context("the token has no expiry")?;
    let access = tokens.access_token.expose();
    let credentials = serde_json::json!({
        "access_token": access,
        "refresh_token": tokens.refresh_token.as_ref().map(|t| t.expose()),
        "token_type": tokens.token_type,
        "expires_at": expires_at,
        "scope": tokens.scope_string(),
    });
    fs::create_dir_all(out).with_context(|| format!("could not create {}", out.display()))?;
    write_private(&out.join("token.txt"), format!("{access}\n").as_bytes())?;
    write_private(
        &out.join("credentials.json"),
        serde_json::to_string_pretty(&credentials)?.as_bytes(),
    )?;
    Ok(())
}

/// Writes a file only its owner can read (it holds a token).
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(contents))
        .with_context(|| format!("could not write {}", path.display()))
}

/// A library error as the library reports it to a person (message, evidence, causes, fix),
/// without its leading `error: ` (`main` adds one to every error).
pub fn report(e: tokenwarden::Error) -> anyhow::Error {
    let report = e.report();
    anyhow::anyhow!("{}", report.strip_prefix("error: ").unwrap_or(&report))
}
