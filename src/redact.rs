//! What may be recorded of a URL: the one rule for every place a URL reaches a manifest,
//! a log line or a report, so credentials or a query string never do.

/// The base URL as recorded: scheme, host, port and path only (never userinfo or query).
pub fn display_url(url: &url::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_query_and_fragment_are_never_recorded() {
        let u = url::Url::parse("https://user:secret@api.example.com:8443/x/?token=abc#frag").unwrap();
        assert_eq!(display_url(&u), "https://api.example.com:8443/x");
    }
}
