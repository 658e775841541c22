//! `--api-key-command`: read the API key from a secrets manager by running a command and
//! taking what it prints, as AWS `credential_process` and git credential helpers do. The
//! command runs through `sh -c` with stdin closed, is stopped at its timeout, and must print
//! the key alone (one line; surrounding whitespace is trimmed).
//!
//! Never shown anywhere: the key, the command's stdout, and the command line itself (it may
//! carry a token, e.g. `vault read -field=key ...` with `VAULT_TOKEN=...` inline). On
//! failure the message gives the exit status and the command's stderr (its tail, with
//! anything that equals what it printed on stdout masked), which is what the user needs to
//! fix a helper that cannot reach its vault.

use crate::drata::client::ApiKey;
use crate::error::{EtlError, FailureKind};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The stderr shown on failure: its last lines, at most this many bytes.
const STDERR_SHOWN: usize = 2000;

fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// The tail of `stderr` as text, with `secret` (what stdout held, when not empty) masked.
fn shown_stderr(stderr: &[u8], secret: &str) -> String {
    let text = String::from_utf8_lossy(stderr);
    let mut text = text.trim().to_string();
    if !secret.is_empty() {
        text = text.replace(secret, "***");
    }
    if text.len() > STDERR_SHOWN {
        let mut cut = text.len() - STDERR_SHOWN;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text = format!("...{}", &text[cut..]);
    }
    if text.is_empty() {
        "(nothing on stderr)".into()
    } else {
        text
    }
}

/// Run `command` and read the key from its stdout. Exit codes: 64 when it cannot be started,
/// 75 when it outlives `timeout` (a vault that is slow or waits for input), 77 when it fails
/// or prints something that is not one key.
pub fn key_from_command(command: &str, timeout: Duration) -> Result<ApiKey, EtlError> {
    let what = "--api-key-command (env DRATA_API_KEY_COMMAND, config api_key_command)";
    if command.trim().is_empty() {
        return Err(EtlError::usage(format!("{what} is empty; give a command that prints the API key")));
    }
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| EtlError::usage(format!("cannot start {what} through sh: {e}")))?;
    let out = read_all(child.stdout.take().expect("stdout is piped"));
    let err = read_all(child.stderr.take().expect("stderr is piped"));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(EtlError::new(
                    FailureKind::Temporary,
                    format!(
                        "{what} did not finish within {:?} and was stopped. Check that it does not wait for input (its stdin is closed) and that its vault answers; nothing was run",
                        timeout
                    ),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(EtlError::usage(format!("cannot wait for {what}: {e}"))),
        }
    };
    // The command has exited; a grandchild it left behind may still hold the pipes open, so
    // the readers get the rest of the timeout, not forever.
    let join = |h: std::thread::JoinHandle<Vec<u8>>| {
        while !h.is_finished() && started.elapsed() < timeout {
            std::thread::sleep(Duration::from_millis(10));
        }
        if h.is_finished() {
            h.join().unwrap_or_default()
        } else {
            Vec::new()
        }
    };
    let stdout = join(out);
    let stderr = join(err);
    let printed = String::from_utf8(stdout).unwrap_or_default();
    let key = printed.trim();
    if !status.success() {
        let code = status.code().map_or_else(|| "a signal".to_string(), |c| format!("status {c}"));
        return Err(EtlError::new(
            FailureKind::Auth,
            format!("{what} failed (exit {code}); no API key. Its stderr: {}", shown_stderr(&stderr, key)),
        ));
    }
    if key.is_empty() {
        return Err(EtlError::new(
            FailureKind::Auth,
            format!(
                "{what} exited 0 but printed no key (stdout empty, or not UTF-8). Its stderr: {}",
                shown_stderr(&stderr, "")
            ),
        ));
    }
    if key.lines().count() > 1 || key.chars().any(char::is_control) {
        return Err(EtlError::new(
            FailureKind::Auth,
            format!("{what} printed more than the key (several lines or control characters); it must print the key alone. What it printed is not shown"),
        ));
    }
    Ok(ApiKey::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(10);

    #[test]
    fn the_key_is_what_the_command_prints_trimmed() {
        let k = key_from_command("printf '  sk-live-123\\n'", T).unwrap();
        assert_eq!(k.expose(), "sk-live-123");
    }

    #[test]
    fn a_failing_command_shows_its_stderr_and_status_never_stdout() {
        let e = key_from_command("echo partial-sekrit; echo 'vault: permission denied' >&2; exit 3", T).unwrap_err();
        assert_eq!(e.kind, FailureKind::Auth);
        assert!(e.message.contains("status 3") && e.message.contains("vault: permission denied"), "{}", e.message);
        assert!(!e.message.contains("partial-sekrit"), "{}", e.message);
        // The command line itself is never repeated (it may carry a token).
        let e = key_from_command("TOKEN=hunter2 false", T).unwrap_err();
        assert!(!e.message.contains("hunter2"), "{}", e.message);
    }

    #[test]
    fn stderr_echoing_the_printed_value_is_masked() {
        let e = key_from_command("echo sk-abc; echo 'got sk-abc' >&2; exit 1", T).unwrap_err();
        assert!(e.message.contains("got ***") && !e.message.contains("sk-abc"), "{}", e.message);
    }

    #[test]
    fn empty_or_multi_line_output_is_refused_without_showing_it() {
        let e = key_from_command("true", T).unwrap_err();
        assert!(e.message.contains("printed no key"), "{}", e.message);
        let e = key_from_command("printf 'line-one\\nline-two\\n'", T).unwrap_err();
        assert!(e.message.contains("more than the key"), "{}", e.message);
        assert!(!e.message.contains("line-one") && !e.message.contains("line-two"), "{}", e.message);
        assert_eq!(key_from_command("  ", T).unwrap_err().kind, FailureKind::Usage);
    }

    #[test]
    fn a_command_that_hangs_is_stopped_at_its_timeout() {
        let started = Instant::now();
        let e = key_from_command("sleep 30", Duration::from_millis(300)).unwrap_err();
        assert_eq!(e.kind, FailureKind::Temporary);
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        // stdin is closed: a command waiting for input ends instead of hanging.
        let e = key_from_command("read x; echo \"$x\"", T).unwrap_err();
        assert!(e.message.contains("printed no key") || e.message.contains("failed"), "{}", e.message);
    }

    #[test]
    fn long_stderr_is_cut_to_its_tail() {
        let e = key_from_command(
            "i=0; while [ $i -lt 500 ]; do echo \"line $i of noise\" >&2; i=$((i+1)); done; exit 1",
            T,
        )
        .unwrap_err();
        assert!(e.message.contains("line 499 of noise") && !e.message.contains("line 0 of noise"), "{}", e.message);
        assert!(e.message.len() < STDERR_SHOWN + 400, "{}", e.message.len());
    }
}
