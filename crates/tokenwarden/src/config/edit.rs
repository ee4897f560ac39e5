//! Writing profiles into `config.toml` with `toml_edit`, so that the user's comments, blank lines
//! and key order survive. A new profile is validated exactly as it will be loaded before anything
//! is written; the file is replaced atomically (temporary file, fsync, rename), created 0600 in a
//! 0700 directory.

use super::{Config, Diagnostic, parse};
use crate::error::{Error, Result};
use std::io::Write as _;
use std::path::Path;
use toml_edit::{Array, DocumentMut, Item, Table, value};

/// A value to write for one key.
#[derive(Debug, Clone, PartialEq)]
pub enum EditValue {
    /// A string.
    Str(String),
    /// An array of strings.
    List(Vec<String>),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number.
    Float(f64),
    /// A table of strings.
    Map(Vec<(String, String)>),
}

impl EditValue {
    /// The value of `key` (a key of [`super::PROFILE_KEYS`]) from words as typed on a command
    /// line: a list takes each word (one word is split on whitespace), a table `k=v` words, a
    /// boolean `true`/`false`, a number its digits; a string is the words joined by spaces.
    /// A Usage error names the key and the type it takes.
    pub fn parse(key: &str, words: &[String]) -> Result<EditValue> {
        let spec = spec_of(key)?;
        let joined = words.join(" ");
        let wrong = || {
            Error::usage(format!(
                "`{}` takes {}, not `{joined}`",
                spec.name,
                spec.kind.describe()
            ))
            .with_hint(format!("{}: {}", spec.name, spec.help))
        };
        Ok(match spec.kind {
            parse::Kind::Str => EditValue::Str(joined),
            parse::Kind::StrList => EditValue::List(match words {
                [one] => one.split_whitespace().map(str::to_string).collect(),
                many => many.to_vec(),
            }),
            parse::Kind::Bool => EditValue::Bool(joined.parse().map_err(|_| wrong())?),
            parse::Kind::Int => EditValue::Int(joined.parse().map_err(|_| wrong())?),
            parse::Kind::Float => EditValue::Float(joined.parse().map_err(|_| wrong())?),
            // Headers from the command line are plain values (a secret goes in the file as
            // `{ env = "VAR" }`).
            parse::Kind::StrMap | parse::Kind::Headers => EditValue::Map(
                words
                    .iter()
                    .map(|w| {
                        w.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .ok_or_else(wrong)
                    })
                    .collect::<Result<_>>()?,
            ),
        })
    }

    fn item(&self) -> Item {
        match self {
            EditValue::Str(s) => value(s.as_str()),
            EditValue::Bool(b) => value(*b),
            EditValue::Int(i) => value(*i),
            EditValue::Float(f) => value(*f),
            EditValue::List(l) => {
                let mut a = Array::new();
                for s in l {
                    a.push(s.as_str());
                }
                value(a)
            }
            EditValue::Map(m) => {
                let mut t = toml_edit::InlineTable::new();
                for (k, v) in m {
                    t.insert(k, v.as_str().into());
                }
                value(t)
            }
        }
    }
}

/// The schema entry of `key`; a Usage error with a "did you mean" for an unknown key.
fn spec_of(key: &str) -> Result<&'static parse::KeySpec> {
    parse::spec(key).ok_or_else(|| {
        let mut msg = format!("unknown profile key `{key}`");
        if let Some(s) = super::did_you_mean(key, super::PROFILE_KEYS.iter().map(|k| k.name)) {
            msg.push_str(&format!("; did you mean `{s}`?"));
        }
        Error::usage(msg).with_hint("`tokenwarden profile keys` lists every key")
    })
}

/// Puts `item` at `key` in `table`: an existing key keeps its place, the comments above it
/// and the comment after its value; a new key goes at the end.
fn put(table: &mut dyn toml_edit::TableLike, key: &str, mut item: Item) {
    match table.get_mut(key) {
        Some(slot) => {
            if let (Some(old), Some(new)) = (slot.as_value(), item.as_value_mut()) {
                *new.decor_mut() = old.decor().clone();
            }
            *slot = item;
        }
        None => {
            table.insert(key, item);
        }
    }
}

/// A profile to add: its name and keys, in the order they will be written.
#[derive(Debug, Clone, Default)]
pub struct NewProfile {
    /// The profile name.
    pub name: String,
    entries: Vec<(&'static str, EditValue)>,
}

impl NewProfile {
    /// An empty profile named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        NewProfile {
            name: name.into(),
            entries: Vec::new(),
        }
    }

    /// Sets `key` (a key of [`super::PROFILE_KEYS`]); a Usage error for an unknown key.
    pub fn set(&mut self, key: &str, v: EditValue) -> Result<&mut Self> {
        let spec = spec_of(key)?;
        self.entries.retain(|(k, _)| *k != spec.name);
        self.entries.push((spec.name, v));
        Ok(self)
    }

    /// Sets a string key when `v` is `Some`.
    pub fn set_opt(&mut self, key: &str, v: Option<impl Into<String>>) -> Result<&mut Self> {
        if let Some(v) = v {
            self.set(key, EditValue::Str(v.into()))?;
        }
        Ok(self)
    }

    /// Sets a list key when `v` is not empty.
    pub fn set_list(&mut self, key: &str, v: &[String]) -> Result<&mut Self> {
        if !v.is_empty() {
            self.set(key, EditValue::List(v.to_vec()))?;
        }
        Ok(self)
    }

    fn table(&self) -> Table {
        let mut t = Table::new();
        for (k, v) in &self.entries {
            t.insert(k, v.item());
        }
        t
    }

    /// Makes `table` say what this profile says, in place: keys it no longer has are removed,
    /// the others keep their place and comments, new ones go at the end.
    fn replace_into(&self, table: &mut Table) {
        let keep: Vec<&str> = self.entries.iter().map(|(k, _)| *k).collect();
        let gone: Vec<String> = table
            .iter()
            .map(|(k, _)| k.to_string())
            .filter(|k| !keep.contains(&k.as_str()))
            .collect();
        for k in gone {
            table.remove(&k);
        }
        for (k, v) in &self.entries {
            put(table, k, v.item());
        }
    }
}

/// What [`add_profile`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The file did not exist and was created.
    pub created_file: bool,
    /// An existing profile of that name was replaced (`--force`).
    pub replaced: bool,
    /// Warnings about the new profile.
    pub warnings: Vec<Diagnostic>,
}

/// True for names made of letters, digits, `_`, `-` and `.`, not starting with `.` or `-`, at
/// most 64 long (names appear in file names and environment variables).
pub fn valid_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn read_doc(path: &Path) -> Result<(String, DocumentMut, bool)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((String::new(), DocumentMut::new(), false));
        }
        Err(e) => {
            return Err(
                Error::config(format!("cannot read {}: {e}", path.display())).with_source(e),
            );
        }
    };
    // Parse through Config first for a syntax error with line and column.
    Config::parse(path, &text)?;
    let doc = text
        .parse::<DocumentMut>()
        .map_err(|e| Error::config(format!("{} is not valid TOML: {e}", path.display())))?;
    Ok((text, doc, true))
}

fn profiles_table<'a>(doc: &'a mut DocumentMut, path: &Path) -> Result<&'a mut Table> {
    if !doc.contains_key("profiles") {
        let mut t = Table::new();
        t.set_implicit(true);
        doc.insert("profiles", Item::Table(t));
    }
    doc.get_mut("profiles")
        .and_then(Item::as_table_mut)
        .ok_or_else(|| {
            Error::config(format!(
                "`profiles` in {} is not a table; tokenwarden cannot add to it",
                path.display()
            ))
            .with_hint("write profiles as [profiles.NAME] tables")
        })
}

/// Adds (or with `force`, replaces) a profile in the file at `path`. The new profile is validated
/// as it will be loaded; when it has problems, a Config error lists them and nothing is written.
pub fn add_profile(path: &Path, new: &NewProfile, force: bool) -> Result<Added> {
    prepare_add(path, new, force)?.write()
}

/// A validated profile about to be written ([`prepare_add`]): the caller may check more (the
/// issuer's discovery document) before [`PendingAdd::write`].
#[derive(Debug)]
pub struct PendingAdd {
    path: std::path::PathBuf,
    text: String,
    existed: bool,
    replaced: bool,
    profile: super::Profile,
    warnings: Vec<Diagnostic>,
}

impl PendingAdd {
    /// The profile as it will be loaded.
    pub fn profile(&self) -> &super::Profile {
        &self.profile
    }

    /// Writes the file (atomically, 0600).
    pub fn write(self) -> Result<Added> {
        write_private(&self.path, &self.text)?;
        Ok(Added {
            created_file: !self.existed,
            replaced: self.replaced,
            warnings: self.warnings,
        })
    }
}

/// Validates a profile to add (or with `force`, replace) in the file at `path` as it will be
/// loaded, without writing: a Config error lists its problems.
pub fn prepare_add(path: &Path, new: &NewProfile, force: bool) -> Result<PendingAdd> {
    if !valid_profile_name(&new.name) {
        return Err(Error::usage(format!(
            "`{}` is not a usable profile name: use letters, digits, `_`, `-` and `.` (at most 64)",
            new.name
        )));
    }
    let (_, mut doc, existed) = read_doc(path)?;
    let profiles = profiles_table(&mut doc, path)?;
    let replaced = match profiles.get_mut(&new.name) {
        Some(_) if !force => {
            return Err(Error::config(format!(
                "profile `{}` already exists in {}",
                new.name,
                path.display()
            ))
            .with_hint(format!(
                "change one key with `tokenwarden profile set {} KEY VALUE`, pass --force to replace it (its comments are kept where its keys stay), or choose another name",
                new.name
            )));
        }
        Some(Item::Table(old)) => {
            new.replace_into(old);
            true
        }
        Some(other) => {
            *other = Item::Table(new.table());
            true
        }
        None => {
            profiles.insert(&new.name, Item::Table(new.table()));
            false
        }
    };
    if !existed {
        doc.decor_mut().set_prefix(
            "# tokenwarden configuration: one [profiles.NAME] table per profile.\n\
             # `tokenwarden profile keys` lists every key; `tokenwarden profile set NAME KEY VALUE`\n\
             # changes one, keeping these comments.\n\n",
        );
    }
    let text = doc.to_string();
    let checked = Config::parse(path, &text)?
        .check(&new.name)
        .ok_or_else(|| {
            Error::new(
                crate::ErrorKind::Other,
                "the new profile vanished while writing",
            )
        })?;
    if !checked.problems.is_empty() {
        let mut msg = format!(
            "profile `{}` was not written: it has {} problem{}:",
            new.name,
            checked.problems.len(),
            if checked.problems.len() == 1 { "" } else { "s" }
        );
        for p in &checked.problems {
            msg.push_str(&format!("\n  - {}", p.message));
        }
        let hint = match checked.problems.as_slice() {
            [one] if one.hint.is_some() => one.hint.clone().unwrap_or_default(),
            _ => "fix the options listed and run the command again".to_string(),
        };
        return Err(Error::config(msg).with_hint(hint));
    }
    let profile = checked.profile.ok_or_else(|| {
        Error::new(
            crate::ErrorKind::Other,
            "the new profile has no problems but did not load",
        )
    })?;
    Ok(PendingAdd {
        path: path.to_path_buf(),
        text,
        existed,
        replaced,
        profile,
        warnings: checked.warnings,
    })
}

/// Removes the profile `name` from the file at `path`, keeping everything else as it was.
pub fn remove_profile(path: &Path, name: &str) -> Result<()> {
    let (_, mut doc, existed) = read_doc(path)?;
    let removed = existed
        && doc
            .get_mut("profiles")
            .and_then(Item::as_table_like_mut)
            .and_then(|t| t.remove(name))
            .is_some();
    if !removed {
        return Err(Config::load_file(path)?.no_such_profile(name));
    }
    write_private(path, &doc.to_string())
}

/// Sets one key of the existing profile `name` in the file at `path` (a key of
/// [`super::PROFILE_KEYS`]), keeping everything else as it was: comments, order, other keys.
/// The profile is validated as it will be loaded; when the change would make it invalid,
/// nothing is written and a Config error says why. Returns true when the file changed.
pub fn set_profile_key(path: &Path, name: &str, key: &str, v: EditValue) -> Result<bool> {
    let mut single = NewProfile::new(name);
    single.set(key, v)?;
    let (spec_name, item) = single
        .table()
        .into_iter()
        .next()
        .ok_or_else(|| Error::usage(format!("no value for `{key}`")))?;
    let (before, mut doc, existed) = read_doc(path)?;
    let table = existed
        .then(|| doc.get_mut("profiles").and_then(Item::as_table_like_mut))
        .flatten()
        .and_then(|t| t.get_mut(name))
        .and_then(Item::as_table_like_mut);
    let Some(table) = table else {
        return Err(Config::load_file(path)?.no_such_profile(name));
    };
    put(table, &spec_name, item);
    let text = doc.to_string();
    if text == before {
        return Ok(false);
    }
    let checked = Config::parse(path, &text)?.check(name).ok_or_else(|| {
        Error::new(
            crate::ErrorKind::Other,
            "the profile vanished while writing",
        )
    })?;
    if let Some(p) = checked.problems.first() {
        return Err(Error::config(format!(
            "`{key}` of profile `{name}` was not changed: {}",
            p.message
        )));
    }
    write_private(path, &text)?;
    Ok(true)
}

/// Removes `key` from the profile `name` in the file at `path`, keeping everything else. The
/// profile is validated as it will be loaded (a required key cannot go); returns false when
/// the profile did not set the key.
pub fn unset_profile_key(path: &Path, name: &str, key: &str) -> Result<bool> {
    let spec = spec_of(key)?;
    let (_, mut doc, existed) = read_doc(path)?;
    let table = existed
        .then(|| doc.get_mut("profiles").and_then(Item::as_table_like_mut))
        .flatten()
        .and_then(|t| t.get_mut(name))
        .and_then(Item::as_table_like_mut);
    let Some(table) = table else {
        return Err(Config::load_file(path)?.no_such_profile(name));
    };
    if table.remove(spec.name).is_none() {
        return Ok(false);
    }
    let text = doc.to_string();
    let checked = Config::parse(path, &text)?.check(name).ok_or_else(|| {
        Error::new(
            crate::ErrorKind::Other,
            "the profile vanished while writing",
        )
    })?;
    if let Some(p) = checked.problems.first() {
        return Err(Error::config(format!(
            "`{key}` of profile `{name}` was not removed: {}",
            p.message
        )));
    }
    write_private(path, &text)?;
    Ok(true)
}

/// Writes `text` to `path` atomically: a 0600 temporary file in the same directory, fsync,
/// rename, then fsync of the directory. Creates the directory 0700 when missing.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io_err = |what: &str, e: std::io::Error| {
        Error::config(format!("cannot {what} {}: {e}", dir.display()))
            .with_hint("check that the directory is writable (TOKENWARDEN_HOME)")
            .with_source(e)
    };
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            b.mode(0o700);
        }
        b.create(dir).map_err(|e| io_err("create", e))?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.toml".into());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let result = (|| -> std::io::Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err("write config.toml in", e));
    }
    Ok(())
}
