//! Configuration for the SDV services.
//!
//! Settings come from the environment with defaults that work on loopback. A secret comes from
//! the variable `NAME` or from the file named by `NAME_FILE`; it is wrapped in [`Secret`],
//! whose `Debug` and `Display` print `[redacted]`, so a secret never reaches a log through a
//! configuration struct, and whose comparison takes the same time wherever the inputs differ.

use std::{fmt, path::PathBuf};

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Why a setting could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required setting is missing.
    #[error("{0} is not set (set {0} or {0}_FILE)")]
    Missing(String),
    /// A setting's value is malformed.
    #[error("{name}: {reason}")]
    Invalid {
        /// The variable.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file named by `NAME_FILE` could not be read.
    #[error("{name}_FILE={path}: {source}")]
    File {
        /// The variable.
        name: String,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The result type of configuration.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// A secret value: never printed, zeroed on drop, compared in constant time.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// Reads the secret from `NAME` or from the file named by `NAME_FILE` (trailing newline
    /// removed). `None` when neither is set.
    pub fn from_env(name: &str) -> Result<Option<Self>> {
        if let Ok(value) = std::env::var(name) {
            return Ok(Some(Self::new(value.into_bytes())));
        }
        let Some(path) = std::env::var_os(format!("{name}_FILE")).map(PathBuf::from) else {
            return Ok(None);
        };
        let mut bytes = std::fs::read(&path).map_err(|source| Error::File {
            name: name.into(),
            path: path.clone(),
            source,
        })?;
        while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            bytes.pop();
        }
        Ok(Some(Self::new(bytes)))
    }

    /// Like [`Secret::from_env`], but the secret must be set.
    pub fn require(name: &str) -> Result<Self> {
        Self::from_env(name)?.ok_or_else(|| Error::Missing(name.into()))
    }

    /// The secret bytes, for the one place that uses them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as UTF-8 text.
    pub fn expose_str(&self) -> Result<&str> {
        std::str::from_utf8(&self.0).map_err(|_| Error::Invalid {
            name: "secret".into(),
            reason: "not UTF-8".into(),
        })
    }

    /// Compares with `other` in time that depends only on the lengths.
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        self.0.as_slice().ct_eq(other).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A setting from the environment, or `default` when unset.
pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A setting from the environment parsed as `T`, or `default` when unset.
pub fn env_parse<T>(name: &str, default: T) -> Result<T>
where
    T: std::str::FromStr,
    T::Err: fmt::Display,
{
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|e: T::Err| Error::Invalid {
            name: name.into(),
            reason: e.to_string(),
        }),
        Err(_) => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::Write,
        sync::{Arc, Mutex},
    };

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[derive(Debug)]
    #[allow(dead_code)] // Read through `Debug` only.
    struct ServiceConfig {
        url: String,
        signing_secret: Secret,
    }

    #[test]
    fn configured_secret_never_appears_in_logs() {
        let value = "s3cr3t-signing-key-0123456789";
        let file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file.as_file(), "{value}").unwrap();
        std::env::set_var("SDV_TEST_LOGGED_SECRET_FILE", file.path());
        let config = ServiceConfig {
            url: "http://127.0.0.1:8054".into(),
            signing_secret: Secret::require("SDV_TEST_LOGGED_SECRET").unwrap(),
        };
        assert_eq!(config.signing_secret.expose(), value.as_bytes());

        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::TRACE)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(?config, "starting");
            tracing::debug!(secret = %config.signing_secret, "loaded");
            tracing::error!("config was {config:?}");
        });
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            logs.contains("http://127.0.0.1:8054"),
            "the log was written: {logs}"
        );
        assert!(logs.contains("[redacted]"));
        assert!(!logs.contains(value), "secret leaked into: {logs}");
    }

    #[test]
    fn missing_secret_names_both_variables() {
        let err = Secret::require("SDV_TEST_UNSET_SECRET").unwrap_err();
        assert_eq!(
            err.to_string(),
            "SDV_TEST_UNSET_SECRET is not set (set SDV_TEST_UNSET_SECRET or SDV_TEST_UNSET_SECRET_FILE)"
        );
    }

    #[test]
    fn constant_time_comparison_matches_only_equal_bytes() {
        let s = Secret::new(b"abc".to_vec());
        assert!(s.ct_eq(b"abc"));
        assert!(!s.ct_eq(b"abd"));
        assert!(!s.ct_eq(b"ab"));
        assert!(!s.ct_eq(b""));
    }

    #[test]
    fn malformed_setting_is_reported_by_name() {
        std::env::set_var("SDV_TEST_PORT", "eighty");
        let err = env_parse::<u16>("SDV_TEST_PORT", 1).unwrap_err();
        assert!(err.to_string().starts_with("SDV_TEST_PORT: "), "{err}");
        assert_eq!(env_parse::<u16>("SDV_TEST_PORT_UNSET", 8054).unwrap(), 8054);
    }
}
