//! The settings a user gives for what to package (source, revision,
//! checksum, include/exclude) and the typed errors about them, which each
//! door renders with its own names: the frontend's build args
//! (`build-arg source`), the command line's arguments and flags
//! (`SOURCE`, `--revision`), a recipe's keys (`source`). `Display` is the
//! build-arg spelling.

/// A setting an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// What to package.
    Source,
    /// The Hub revision given on its own.
    Revision,
    /// The sha256 of URL sources.
    Checksum,
    /// The include and exclude patterns.
    Patterns,
    /// The reference name.
    Name,
    /// The media-type spelling (`cncf` or `cnai`).
    MediaTypes,
}

/// Which front door asks, so errors name what the person typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// The BuildKit frontend: build args (`--build-arg source=…`) and the
    /// build context.
    Frontend,
    /// The command line: `pack SOURCE --revision …`.
    Cli,
    /// A `sources` entry of a recipe (`model.yaml`): `source: …`.
    Recipe,
}

impl Door {
    /// How this door names `setting` in a message.
    pub fn name(self, setting: Setting) -> &'static str {
        match (self, setting) {
            (Door::Frontend, Setting::Source) => "build-arg source",
            (Door::Frontend, Setting::Revision) => "build-arg revision",
            (Door::Frontend, Setting::Checksum) => "build-arg checksum",
            (Door::Frontend, Setting::Patterns) => "build-args include/exclude",
            (Door::Cli, Setting::Source) => "SOURCE",
            (Door::Cli, Setting::Revision) => "--revision",
            (Door::Cli, Setting::Checksum) => "--checksum",
            (Door::Cli, Setting::Patterns) => "--include/--exclude",
            (Door::Recipe, Setting::Source) => "source",
            (Door::Recipe, Setting::Revision) => "revision",
            (Door::Recipe, Setting::Checksum) => "checksum",
            (Door::Recipe, Setting::Patterns) => "include/exclude",
            (Door::Frontend, Setting::Name) => "build-arg name",
            (Door::Cli, Setting::Name) => "--name",
            (Door::Recipe, Setting::Name) => "name",
            (Door::Frontend | Door::Recipe, Setting::MediaTypes) => "media_types",
            (Door::Cli, Setting::MediaTypes) => "--media-types",
        }
    }

    /// `setting` given `value`, as a person writes it at this door
    /// (`media_types=cnai`, `--media-types cnai`).
    pub fn set(self, setting: Setting, value: &str) -> String {
        let name = self.name(setting);
        match self {
            Door::Frontend => format!("{}={value}", name.trim_start_matches("build-arg ")),
            Door::Cli => format!("{name} {value}"),
            Door::Recipe => format!("{name}: {value}"),
        }
    }
}

/// A setting other than the source that the core refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render(Door::Frontend))]
pub enum SettingError {
    /// A reference name that is not one.
    InvalidName { name: String },
    /// Config fields the `cnai` spelling (model-spec v0.0.6) has no place for.
    NotInCnai { fields: Vec<&'static str> },
}

impl SettingError {
    /// The message, with settings named as `door` names them.
    pub fn render(&self, door: Door) -> String {
        match self {
            SettingError::InvalidName { name } => format!(
                "{}: {name:?} is not a valid reference name; use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
                door.name(Setting::Name)
            ),
            SettingError::NotInCnai { fields } => format!(
                "{} writes model-spec v0.0.6, whose config has no {}; drop it from the config or use {}",
                door.set(Setting::MediaTypes, "cnai"),
                fields.join(" or "),
                door.set(Setting::MediaTypes, "cncf")
            ),
        }
    }
}

/// The forms `source` accepts, for error messages.
pub const ACCEPTED_FORMS: &str =
    "'.' or 'context' (the build context), a path or glob inside the context, or huggingface://org/repo[@revision][/path] (alias hf://), or http(s)://host/path/file URLs separated by commas or spaces";

/// The usage line of a Hub source.
const HUB_USAGE: &str = "expected huggingface://org/repo[@revision][/path]";

/// What is wrong with the source settings: the source grammar
/// (`modelpack::source`, Hub references, URL lists), the checksums, and
/// a Hub selection the patterns leave empty or too large.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render(Door::Frontend))]
pub enum SourceError {
    /// A revision given for URL sources.
    RevisionForUrls,
    /// A revision given for the build context.
    RevisionForContext { given: String },
    /// A `scheme://` source of no supported kind.
    UnsupportedScheme { scheme: String },
    /// A context path with `..` in it.
    LeavesContext { given: String },
    /// A checksum given for a source other than URLs.
    ChecksumNotForUrls,
    /// `huggingface://<rest>` names no `org/repo`.
    NotARepository { rest: String },
    /// `huggingface://org/repo@` with nothing after the `@`.
    EmptyRevision { rest: String },
    /// The revision in the source and the revision setting differ.
    RevisionContradicts { inline: String, given: String },
    /// A path in a Hub source with `.` or `..` in it.
    PathNotRepoRelative { path: String, rest: String },
    /// Two URLs give the same file name.
    SameFileName {
        first: String,
        second: String,
        name: String,
    },
    /// An empty URL list.
    NoUrl,
    /// An item of a URL list that is no URL.
    NotAUrl { raw: String },
    /// A scheme other than http(s) in a URL list.
    MixedSchemes { scheme: String },
    /// A URL with a control character (credentials redacted).
    ControlCharacter { shown: String },
    /// A URL without host.
    NoHost { shown: String, scheme: String },
    /// A URL that does not parse.
    InvalidUrl { shown: String },
    /// A URL whose path ends without a file name.
    NoFileName {
        shown: String,
        scheme: String,
        host: String,
    },
    /// A URL whose file name is unusable (bad escapes, separators…).
    BadFileName { shown: String, reason: String },
    /// Not one checksum per URL.
    ChecksumCount { checksums: usize, urls: usize },
    /// A checksum that is not `sha256:<64 hex>`.
    NotAChecksum { given: String },
    /// The patterns keep nothing of a Hub repo's files.
    NothingSelected { total: usize, repo: String },
    /// More files selected from a Hub repo than one model takes.
    TooManySelected {
        count: usize,
        repo: String,
        max: usize,
    },
}

impl SourceError {
    /// The message, with settings named as `door` names them.
    pub fn render(&self, door: Door) -> String {
        let source = door.name(Setting::Source);
        let revision = door.name(Setting::Revision);
        let checksum = door.name(Setting::Checksum);
        let patterns = door.name(Setting::Patterns);
        match self {
            SourceError::RevisionForUrls => format!("{revision} only applies to huggingface:// sources; for a URL source put the version in the URL"),
            SourceError::RevisionForContext { given } => format!("{revision} only applies to huggingface:// sources, not to source={given:?}"),
            SourceError::UnsupportedScheme { scheme } => format!("{source}: {scheme}:// sources are not supported yet; accepted: {ACCEPTED_FORMS}"),
            SourceError::LeavesContext { given } => format!("{source}: {given:?} leaves the build context; use a path inside it"),
            SourceError::ChecksumNotForUrls => format!("{checksum} only applies to http(s):// sources; the Hub and the build context are checked by their own listings"),
            SourceError::NotARepository { rest } => format!("{source}: huggingface://{rest} is not a repository; {HUB_USAGE}"),
            SourceError::EmptyRevision { rest } => format!("{source}: empty revision after '@' in huggingface://{rest}; {HUB_USAGE}"),
            SourceError::RevisionContradicts { inline, given } => format!("{revision}={given:?} contradicts the revision {inline:?} in source; give it once"),
            SourceError::PathNotRepoRelative { path, rest } => format!("{source}: path {path:?} in huggingface://{rest} must be repo-relative"),
            SourceError::SameFileName { first, second, name } => format!("{source}: {first} and {second} both give the file name {name:?}; a model holds one file per name, so fetch only one of them"),
            SourceError::NoUrl => format!("{source}: no URL given; pass source=https://host/path/file"),
            SourceError::NotAUrl { raw } => format!("{source}: {raw:?} is not a URL; expected http(s)://host/path/file"),
            SourceError::MixedSchemes { scheme } => format!("{source}: {scheme}:// in a list of URLs; only http:// and https:// URLs can be listed together"),
            SourceError::ControlCharacter { shown } => format!("{source}: the URL {shown:?} holds a control character"),
            SourceError::NoHost { shown, scheme } => format!("{source}: {shown} has no host; expected {scheme}://host/path/file"),
            SourceError::InvalidUrl { shown } => format!("{source}: {shown} is not a valid URL"),
            SourceError::NoFileName { shown, scheme, host } => format!("{source}: {shown} names no file (its path ends without a file name); point the URL at a file, e.g. {scheme}://{host}/path/model.gguf"),
            SourceError::BadFileName { shown, reason } => format!("{source}: {shown}: {reason}"),
            SourceError::ChecksumCount { checksums, urls } => format!("{checksum}: {checksums} checksum(s) for {urls} URL(s); give one sha256:<64 hex> per URL, comma-separated in the order of the URLs"),
            SourceError::NotAChecksum { given } => format!("{checksum}: {given:?} is not sha256:<64 hex digits>; e.g. checksum=sha256:$(sha256sum model.gguf | cut -d' ' -f1)"),
            SourceError::NothingSelected { total, repo } => format!("{patterns} left no file to package out of {total} in {repo}; check the patterns"),
            SourceError::TooManySelected { count, repo, max } => format!("{count} files of {repo} are selected, over the limit of {max} files per model (one BuildKit step each); narrow them with {patterns} or a path in source"),
        }
    }
}

/// The message of `e` as `door` names settings, when it is (or wraps) a
/// [`SourceError`]; else its text.
pub fn render(e: &anyhow::Error, door: Door) -> String {
    match e.downcast_ref::<SourceError>() {
        Some(s) => s.render(door),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_door_names_the_settings_its_way() {
        let e = SourceError::RevisionContradicts {
            inline: "v1".into(),
            given: "v2".into(),
        };
        assert_eq!(
            e.to_string(),
            "build-arg revision=\"v2\" contradicts the revision \"v1\" in source; give it once"
        );
        assert_eq!(
            e.render(Door::Cli),
            "--revision=\"v2\" contradicts the revision \"v1\" in source; give it once"
        );
        let e = SourceError::NothingSelected {
            total: 3,
            repo: "o/r".into(),
        };
        assert!(e
            .render(Door::Cli)
            .starts_with("--include/--exclude left no file"));
        let wrapped = anyhow::Error::from(SourceError::NoUrl);
        assert_eq!(
            render(&wrapped, Door::Cli),
            "SOURCE: no URL given; pass source=https://host/path/file"
        );
        assert_eq!(render(&anyhow::anyhow!("other"), Door::Cli), "other");
        let e = SettingError::NotInCnai {
            fields: vec!["config.capabilities"],
        };
        assert_eq!(e.to_string(), "media_types=cnai writes model-spec v0.0.6, whose config has no config.capabilities; drop it from the config or use media_types=cncf");
        assert_eq!(e.render(Door::Cli), "--media-types cnai writes model-spec v0.0.6, whose config has no config.capabilities; drop it from the config or use --media-types cncf");
        let e = crate::names::validate_name("-x").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("build-arg name: \"-x\" is not a valid"));
        assert!(e
            .render(Door::Cli)
            .starts_with("--name: \"-x\" is not a valid"));
        assert!(crate::names::validate_name("ok-1.2_x").is_ok());
    }
}
