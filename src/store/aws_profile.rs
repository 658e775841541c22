//! The part of the AWS credential chain `object_store` does not read: the shared files.
//!
//! When no key is in the environment, a named profile (`AWS_PROFILE`, else `default`) is
//! looked up in the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
//! `~/.aws/credentials`: `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`)
//! and its region in the config file (`AWS_CONFIG_FILE`, else `~/.aws/config`, section
//! `[profile NAME]` or `[default]`). Environment variables always win; profiles that need a
//! process (`credential_process`, SSO, `role_arn`) are not run: export their credentials
//! first (`aws configure export-credentials --format env`).

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Static credentials and region from a profile. `Debug` masks the secret key and the
/// session token (a `{:?}` in a log line or a panic must not print them).
#[derive(Default, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &masked(&self.secret_access_key))
            .field("session_token", &masked(&self.session_token))
            .field("region", &self.region)
            .finish()
    }
}

/// `[section]` -> key -> value of an INI file as the AWS CLI writes it.
fn ini(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.entry(section.clone()).or_default().insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

/// The profile from the two files' texts (either may be absent).
pub fn from_texts(name: &str, credentials: Option<&str>, config: Option<&str>) -> Profile {
    let creds = credentials.map(ini).unwrap_or_default();
    let conf = config.map(ini).unwrap_or_default();
    let c = creds.get(name);
    let conf_section = if name == "default" { "default".to_string() } else { format!("profile {name}") };
    let f = conf.get(&conf_section);
    let get = |k: &str| c.and_then(|s| s.get(k)).or_else(|| f.and_then(|s| s.get(k))).cloned();
    Profile {
        name: name.to_string(),
        access_key_id: get("aws_access_key_id"),
        secret_access_key: get("aws_secret_access_key"),
        session_token: get("aws_session_token"),
        region: f.and_then(|s| s.get("region")).cloned(),
    }
}

fn home_file(env: &str, rel: &str) -> Option<PathBuf> {
    std::env::var_os(env)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(rel)))
}

/// The profile the environment selects, when the environment itself holds no key.
pub fn from_env() -> Option<Profile> {
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        return None;
    }
    let name = std::env::var("AWS_PROFILE").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into());
    let read = |p: Option<PathBuf>| p.and_then(|p| std::fs::read_to_string(p).ok());
    let creds = read(home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials"));
    let config = read(home_file("AWS_CONFIG_FILE", ".aws/config"));
    if creds.is_none() && config.is_none() {
        return None;
    }
    Some(from_texts(&name, creds.as_deref(), config.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDS: &str = "[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s1\n\n[ci]\naws_access_key_id=AKIACI\naws_secret_access_key=s2\naws_session_token = t2\n";
    const CONFIG: &str = "# comment\n[default]\nregion = us-east-2\n[profile ci]\nregion=eu-west-1\n";

    #[test]
    fn named_and_default_profiles() {
        let p = from_texts("ci", Some(CREDS), Some(CONFIG));
        assert_eq!(p.access_key_id.as_deref(), Some("AKIACI"));
        assert_eq!(p.session_token.as_deref(), Some("t2"));
        assert_eq!(p.region.as_deref(), Some("eu-west-1"));
        let d = from_texts("default", Some(CREDS), Some(CONFIG));
        assert_eq!((d.access_key_id.as_deref(), d.region.as_deref()), (Some("AKIADEFAULT"), Some("us-east-2")));
        let none = from_texts("missing", Some(CREDS), None);
        assert_eq!(none.access_key_id, None);
    }

    #[test]
    fn debug_masks_the_secret_and_the_token() {
        let p = from_texts("ci", Some("[ci]\naws_access_key_id=AKIACI\naws_secret_access_key=wJalrXUtnFEMIK7MDENG\naws_session_token=FwoGZXIvYXdzEBYaDH\n"), None);
        let shown = format!("{p:?} {p:#?}");
        assert!(shown.contains("AKIACI"), "the key id is not secret: {shown}");
        for secret in ["wJalrXUtnFEMIK7MDENG", "FwoGZXIvYXdzEBYaDH"] {
            for frag in secret.as_bytes().windows(4) {
                assert!(!shown.contains(std::str::from_utf8(frag).unwrap()), "{shown}");
            }
        }
        assert!(shown.contains("secret_access_key: Some(\"***\")"), "{shown}");
    }
}
