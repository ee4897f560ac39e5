//! config.toml: every validation message, "did you mean", presets, secrets, and writes that keep
//! the user's comments.

use std::path::Path;
use tokenwarden::config::edit::{self, EditValue, NewProfile};
use tokenwarden::config::{
    ClientAuth, Config, GrantType, Provider, SecretSource, TokenRequestFormat,
};
use tokenwarden::{Error, ErrorKind};

fn parse(text: &str) -> Config {
    Config::parse(Path::new("/cfg/config.toml"), text).expect("valid TOML")
}

fn problems(text: &str, name: &str) -> Error {
    parse(text)
        .profile(name)
        .expect_err("the profile has problems")
}

#[test]
fn a_minimal_profile_loads() {
    let c = parse("[profiles.default]\nissuer = \"https://id.example.com\"\nclient_id = \"cli\"\n");
    let p = c.profile("default").expect("valid").profile;
    assert_eq!(p.client_id, "cli");
    assert_eq!(p.provider, Provider::Generic);
    assert_eq!(p.issuer.as_deref(), Some("https://id.example.com"));
    assert!(p.needs_discovery());
    assert_eq!(p.client_auth, ClientAuth::None);
    assert_eq!(p.token_request_format, TokenRequestFormat::Form);
    assert_eq!(p.retry.max_attempts, 4);
}

#[test]
fn unknown_key_suggests_and_points_at_the_line() {
    let e = problems(
        "# comment\n[profiles.a]\nissuer = \"https://id.example.com\"\nclientid = \"cli\"\n",
        "a",
    );
    assert_eq!(e.kind(), ErrorKind::Config);
    assert_eq!(e.kind().exit_code(), 2);
    let m = e.message();
    assert!(
        m.contains("line 4, column 1: unknown key `clientid`; did you mean `client_id`?"),
        "{m}"
    );
    assert!(m.contains("has no `client_id`"), "{m}");
}

#[test]
fn every_problem_is_listed_at_once() {
    let e = problems(
        r#"
[profiles.bad]
provider = "gogle"
client_id = "x"
issuer = "not a url"
token_endpoint = "http://auth.example.com/token"
client_auth = "basic"
refresh_skew = "soon"
max_attempts = 0
scopes = ["ok", "not ok"]
"#,
        "bad",
    );
    let m = e.message();
    for want in [
        "7 problems",
        "`provider` is `gogle`, which is not one of generic, anthropic, google, github, microsoft; did you mean `google`?",
        "`issuer` = \"not a url\" is not a valid URL",
        "uses plain http to a host that is not loopback",
        "`client_auth` is `basic`",
        "`refresh_skew` = \"soon\" is not a duration",
        "`max_attempts` must be between 1 and 20, not 0",
    ] {
        assert!(m.contains(want), "missing {want:?} in:\n{m}");
    }
    assert!(
        m.contains("scope \"not ok\" is not a valid scope token"),
        "{m}"
    );
}

#[test]
fn plain_http_is_allowed_to_loopback_or_when_asked() {
    let ok = parse(
        "[profiles.a]\nclient_id = \"c\"\ntoken_endpoint = \"http://127.0.0.1:9/token\"\n\
         [profiles.b]\nclient_id = \"c\"\ntoken_endpoint = \"http://auth.lan/token\"\nallow_insecure_http = true\n",
    );
    ok.profile("a").expect("loopback http is fine");
    ok.profile("b").expect("allowed explicitly");
}

#[test]
fn missing_endpoints_are_named() {
    let e = problems("[profiles.a]\nclient_id = \"c\"\n", "a");
    assert!(e.message().contains("has no endpoints"), "{}", e.message());
    let e = problems(
        "[profiles.a]\nclient_id = \"c\"\ntoken_endpoint = \"https://x/token\"\ngrant = \"device_code\"\n",
        "a",
    );
    assert!(
        e.message()
            .contains("grant = \"device_code\" needs `device_authorization_endpoint`"),
        "{}",
        e.message()
    );
}

#[test]
fn inline_secret_is_a_warning_not_an_error() {
    let c = parse(
        "[profiles.a]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\nclient_secret = \"hunter2\"\n",
    );
    let loaded = c.profile("a").expect("loads");
    assert_eq!(loaded.warnings.len(), 1);
    assert!(loaded.warnings[0].message.contains("inline client_secret"));
    assert!(
        loaded.warnings[0]
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("client_secret_env")
    );
    assert!(
        !format!("{:?}", loaded.profile).contains("hunter2"),
        "Debug leaks the secret"
    );
    // A secret configured without client_auth defaults to client_secret_basic.
    assert_eq!(loaded.profile.client_auth, ClientAuth::ClientSecretBasic);
}

#[test]
fn secret_from_env_is_read_only_when_needed() {
    let c = parse(
        "[profiles.a]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\n\
         client_secret_env = \"TW_TEST_SECRET_NEVER_SET\"\nclient_auth = \"client_secret_post\"\n",
    );
    let p = c.profile("a").expect("loads without the variable").profile;
    assert_eq!(
        p.client_secret,
        SecretSource::Env("TW_TEST_SECRET_NEVER_SET".into())
    );
    let status = p.secret_status();
    assert_eq!((status.source, status.available), ("env", false));
    let e = p
        .client_secret_from(|_| None)
        .expect_err("missing variable");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.message().contains("TW_TEST_SECRET_NEVER_SET"),
        "{}",
        e.message()
    );
    let s = p
        .client_secret_from(|v| (v == "TW_TEST_SECRET_NEVER_SET").then(|| "s3".to_string()))
        .expect("set")
        .expect("some");
    assert_eq!(s.expose(), "s3");
    // And building a client is where it is needed.
    let e = tokenwarden::TokenClient::new(p).expect_err("no secret");
    assert!(e.message().contains("TW_TEST_SECRET_NEVER_SET"));
}

#[test]
fn client_auth_without_secret_and_both_secrets_are_problems() {
    let e = problems(
        "[profiles.a]\nissuer = \"https://i.example\"\nclient_id = \"c\"\nclient_auth = \"client_secret_basic\"\n",
        "a",
    );
    assert!(
        e.message().contains("needs a client secret"),
        "{}",
        e.message()
    );
    let e = problems(
        "[profiles.a]\nissuer = \"https://i.example\"\nclient_id = \"c\"\nclient_secret_env = \"X\"\nclient_secret = \"y\"\n",
        "a",
    );
    assert!(
        e.message()
            .contains("both `client_secret_env` and `client_secret`")
    );
}

#[test]
fn a_secret_pasted_into_client_secret_env_is_never_echoed() {
    let secret = "gho_s3cr3tV4lue-pasted.by+mistake";
    let e = problems(
        &format!(
            "[profiles.a]\nissuer = \"https://i.example\"\nclient_id = \"c\"\nclient_secret_env = \"{secret}\"\n"
        ),
        "a",
    );
    assert_eq!(e.kind(), ErrorKind::Config);
    let shown = format!("{e}\n{e:?}\n{}", e.to_json());
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("client_secret_env"), "{shown}");
    assert!(shown.contains("it is not the secret"), "{shown}");
}

#[test]
fn syntax_errors_have_line_and_column() {
    let e = Config::parse(
        Path::new("/cfg/config.toml"),
        "[profiles.a]\nclient_id = \"c\nx = 1\n",
    )
    .expect_err("bad TOML");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.message()
            .contains("/cfg/config.toml is not valid TOML: line 2"),
        "{}",
        e.message()
    );
}

#[test]
fn top_level_and_wrong_types() {
    let c = parse("profile = 1\n[profiles.a]\nissuer = 5\nclient_id = \"c\"\n");
    let e = c.profile("a").expect_err("problems");
    let m = e.message();
    assert!(
        m.contains("unknown top-level key `profile`; did you mean `profiles`?"),
        "{m}"
    );
    assert!(
        m.contains("`issuer` must be a string, not an integer"),
        "{m}"
    );
}

#[test]
fn unknown_profile_is_a_config_error_with_a_suggestion() {
    let c = parse("[profiles.work]\nissuer = \"https://i.example\"\nclient_id = \"c\"\n");
    let e = c.profile("wrok").expect_err("no such profile");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.message().contains("did you mean `work`?"),
        "{}",
        e.message()
    );
}

#[test]
fn defaults_apply_to_every_profile() {
    let c = parse(
        "[defaults]\ntimeout = \"3s\"\nmax_attempts = 2\n\
         [profiles.a]\nissuer = \"https://i.example\"\nclient_id = \"c\"\nmax_attempts = 6\n",
    );
    let p = c.profile("a").expect("valid").profile;
    assert_eq!(p.timeout, std::time::Duration::from_secs(3));
    assert_eq!(p.retry.max_attempts, 6);
}

#[test]
fn presets_resolve_with_overrides() {
    let c = parse(
        r#"
[profiles.g]
provider = "google"
client_id = "x.apps.googleusercontent.com"
[profiles.gh]
provider = "github"
client_id = "Iv1.abc"
token_endpoint = "http://127.0.0.1:1/token"
[profiles.ms]
provider = "microsoft"
client_id = "m"
tenant = "contoso.onmicrosoft.com"
[profiles.an]
provider = "anthropic"
client_id = "a"
"#,
    );
    let g = c.profile("g").expect("google").profile;
    assert_eq!(g.issuer.as_deref(), Some("https://accounts.google.com"));
    assert_eq!(
        g.endpoints.token.as_ref().map(|u| u.as_str()),
        Some("https://oauth2.googleapis.com/token")
    );
    assert!(g.endpoints.device_authorization.is_some() && g.endpoints.revocation.is_some());
    assert!(!g.needs_discovery());

    let gh = c.profile("gh").expect("github").profile;
    assert!(
        gh.quirks.send_accept_json && gh.quirks.may_not_expire && gh.quirks.errors_with_status_200
    );
    assert_eq!(
        gh.endpoints.token.as_ref().map(|u| u.as_str()),
        Some("http://127.0.0.1:1/token")
    );
    assert_eq!(
        gh.endpoints.authorization.as_ref().map(|u| u.as_str()),
        Some("https://github.com/login/oauth/authorize")
    );

    let ms = c.profile("ms").expect("microsoft").profile;
    assert_eq!(
        ms.endpoints.token.as_ref().map(|u| u.as_str()),
        Some("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token")
    );
    assert_eq!(
        ms.issuer.as_deref(),
        Some("https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0")
    );
    assert!(ms.quirks.scope_on_every_token_request);

    let an = c.profile("an").expect("anthropic").profile;
    assert_eq!(an.token_request_format, TokenRequestFormat::Json);
    assert_eq!(an.grant, GrantType::AuthorizationCode);
}

#[test]
fn tenant_outside_microsoft_is_a_warning() {
    let c =
        parse("[profiles.a]\nissuer = \"https://i.example\"\nclient_id = \"c\"\ntenant = \"t\"\n");
    let l = c.profile("a").expect("valid");
    assert!(
        l.warnings
            .iter()
            .any(|w| w.message.contains("only used by the microsoft preset"))
    );
}

const COMMENTED: &str = "# my settings, keep me\n\n[defaults]\ntimeout = \"10s\" # slow network\n\n# work account\n[profiles.work]\nissuer = \"https://i.example\"  # the IdP\nclient_id = \"w\"\n";

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn new_profile(name: &str, issuer: &str) -> NewProfile {
    let mut p = NewProfile::new(name);
    p.set("issuer", EditValue::Str(issuer.into()))
        .and_then(|p| p.set("client_id", EditValue::Str("c".into())))
        .and_then(|p| p.set_list("scopes", &["openid".to_string()]))
        .expect("known keys");
    p
}

#[test]
fn adding_keeps_comments_and_order_and_private_permissions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let path = home.join("config.toml");
    // Creating: 0700 directory, 0600 file.
    let added =
        edit::add_profile(&path, &new_profile("first", "https://a.example"), false).expect("add");
    assert!(added.created_file && !added.replaced);
    #[cfg(unix)]
    {
        assert_eq!(mode(&home), 0o700);
        assert_eq!(mode(&path), 0o600);
    }
    std::fs::write(&path, COMMENTED).expect("write");
    edit::add_profile(&path, &new_profile("personal", "https://b.example"), false).expect("add");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(
        text.starts_with(COMMENTED),
        "comments or order changed:\n{text}"
    );
    assert!(
        text.contains("[profiles.personal]\nissuer = \"https://b.example\""),
        "{text}"
    );
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);

    // Existing profile: refused without force, replaced in place with it.
    let e = edit::add_profile(&path, &new_profile("work", "https://c.example"), false)
        .expect_err("exists");
    assert!(e.message().contains("already exists"));
    let r =
        edit::add_profile(&path, &new_profile("work", "https://c.example"), true).expect("force");
    assert!(r.replaced);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.starts_with("# my settings, keep me\n"), "{text}");
    let work = text.find("[profiles.work]").expect("work");
    let personal = text.find("[profiles.personal]").expect("personal");
    assert!(work < personal, "replaced profile moved:\n{text}");
    assert!(text.contains("https://c.example"));

    // Removing keeps the rest.
    edit::remove_profile(&path, "work").expect("remove");
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(!text.contains("[profiles.work]") && text.contains("[profiles.personal]"));
    assert!(text.contains("timeout = \"10s\" # slow network"), "{text}");
    let e = edit::remove_profile(&path, "work").expect_err("gone");
    assert_eq!(e.kind(), ErrorKind::Config);
}

#[test]
fn an_invalid_new_profile_is_not_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, COMMENTED).expect("write");
    let mut bad = new_profile("broken", "https://b.example");
    bad.set(
        "redirect_uri",
        EditValue::Str("http://127.0.0.1/cb/".into()),
    )
    .and_then(|p| {
        p.set_list(
            "registered_redirect_uris",
            &["http://127.0.0.1/cb".to_string()],
        )
    })
    .expect("keys");
    let e = edit::add_profile(&path, &bad, false).expect_err("lint fails");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.message().contains("trailing slash"), "{}", e.message());
    assert_eq!(std::fs::read_to_string(&path).expect("read"), COMMENTED);
    let e = edit::add_profile(&path, &new_profile("bad name!", "https://b.example"), false)
        .expect_err("name");
    assert_eq!(e.kind(), ErrorKind::Usage);
    let mut p = NewProfile::new("x");
    assert!(p.set("clientid", EditValue::Str("c".into())).is_err());
}
