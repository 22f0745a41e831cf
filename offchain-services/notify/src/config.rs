//! The service's settings, from the environment with loopback defaults.

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use lettre::message::Mailbox;
use sdv_config::{Error as ConfigError, Secret};

use crate::Result;

/// Where the API listens by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8400";
/// The SMTP server by default: a mail relay on this machine.
pub const DEFAULT_SMTP_URL: &str = "smtp://127.0.0.1:25";
/// The `From` of the mails by default.
pub const DEFAULT_MAIL_FROM: &str = "SDV Notices <notices@sdv.localhost>";
/// The shortest API key and webhook secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SDV_NOTIFY_LISTEN`: where the API listens.
    pub listen: SocketAddr,
    /// `DATABASE_URL` (or `DATABASE_URL_FILE`); it may hold a password, so it is a secret.
    pub database_url: Secret,
    /// `SDV_NOTIFY_API_KEY` (or `_FILE`): the key every route but `/health` requires.
    pub api_key: Secret,
    /// `SDV_SMTP_URL`: where mails are handed over.
    pub smtp: SmtpServer,
    /// `SDV_MAIL_FROM`: the mails' `From`.
    pub mail_from: Mailbox,
    /// `SDV_WEBHOOK_SECRET` (or `_FILE`): the HMAC key of the webhook signatures.
    pub webhook_secret: Secret,
    /// `SDV_NOTIFY_RETRY_MS`: the first retry's delay; each further one doubles, up to an hour.
    pub retry_base: Duration,
}

impl Config {
    /// Reads every setting; a missing secret or a malformed value is an error naming the
    /// variable (never its secret value).
    pub fn from_env() -> Result<Self> {
        let listen = sdv_config::env_parse(
            "SDV_NOTIFY_LISTEN",
            DEFAULT_LISTEN.parse().expect("a valid default"),
        )?;
        let database_url = Secret::require("DATABASE_URL")?;
        let api_key = Secret::require("SDV_NOTIFY_API_KEY")?;
        long_enough("SDV_NOTIFY_API_KEY", &api_key)?;
        let webhook_secret = Secret::require("SDV_WEBHOOK_SECRET")?;
        long_enough("SDV_WEBHOOK_SECRET", &webhook_secret)?;
        let smtp = SmtpServer::parse(&sdv_config::env_or("SDV_SMTP_URL", DEFAULT_SMTP_URL))
            .map_err(|reason| invalid("SDV_SMTP_URL", reason))?;
        let mail_from = sdv_config::env_or("SDV_MAIL_FROM", DEFAULT_MAIL_FROM)
            .parse::<Mailbox>()
            .map_err(|e| invalid("SDV_MAIL_FROM", format!("not a mailbox: {e}")))?;
        let retry_ms: u64 = sdv_config::env_parse("SDV_NOTIFY_RETRY_MS", 5000)?;
        if retry_ms == 0 {
            return Err(invalid("SDV_NOTIFY_RETRY_MS", "must be at least 1".into()).into());
        }
        Ok(Self {
            listen,
            database_url,
            api_key,
            smtp,
            mail_from,
            webhook_secret,
            retry_base: Duration::from_millis(retry_ms),
        })
    }
}

/// An SMTP server on a loopback host, spoken to without TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    /// `127.0.0.1`, `::1` or `localhost`.
    pub host: String,
    /// The port (25 when the URL names none).
    pub port: u16,
}

impl SmtpServer {
    /// Reads `smtp://host[:port]`. Plain SMTP goes only to a loopback host: this build has no
    /// TLS, so a remote server is refused rather than sent mail in the clear.
    pub fn parse(url: &str) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| format!("{url:?} is not a URL ({e}); expected smtp://host:port"))?;
        if parsed.scheme() != "smtp" {
            return Err(format!(
                "scheme {:?} is not supported; expected smtp://host:port (plain SMTP to a \
                 loopback relay; this build has no TLS)",
                parsed.scheme()
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("credentials are not supported (they would travel without TLS)".into());
        }
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
            return Err("expected smtp://host:port without a path or query".into());
        }
        let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
            return Err("the URL names no host".into());
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let loopback = match host.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => host.eq_ignore_ascii_case("localhost"),
        };
        if !loopback {
            return Err(format!(
                "{host} is not a loopback host: plain SMTP (no TLS) is allowed only to \
                 127.0.0.1, ::1 or localhost, and this build has no TLS for a remote server; \
                 run a local relay that forwards with TLS and point SDV_SMTP_URL at it"
            ));
        }
        Ok(Self {
            host,
            port: parsed.port().unwrap_or(25),
        })
    }
}

fn invalid(name: &str, reason: String) -> ConfigError {
    ConfigError::Invalid {
        name: name.into(),
        reason,
    }
}

fn long_enough(name: &str, secret: &Secret) -> Result<(), ConfigError> {
    if secret.expose().len() < MIN_SECRET_LEN {
        return Err(invalid(
            name,
            format!("must be at least {MIN_SECRET_LEN} bytes long"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_smtp_goes_only_to_loopback() {
        assert_eq!(
            SmtpServer::parse("smtp://127.0.0.1:2525").unwrap(),
            SmtpServer {
                host: "127.0.0.1".into(),
                port: 2525
            }
        );
        assert_eq!(SmtpServer::parse("smtp://localhost").unwrap().port, 25);
        assert_eq!(SmtpServer::parse("smtp://[::1]:25").unwrap().host, "::1");
        for remote in [
            "smtp://mail.example.org:587",
            "smtp://10.0.0.5:25",
            "smtp://8.8.8.8",
        ] {
            let err = SmtpServer::parse(remote).unwrap_err();
            assert!(err.contains("not a loopback host"), "{remote}: {err}");
        }
        for bad in [
            "smtps://127.0.0.1:465",
            "smtp://user:pw@127.0.0.1:25",
            "127.0.0.1:25",
            "smtp://127.0.0.1:25/x",
        ] {
            assert!(SmtpServer::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_sender_is_a_mailbox() {
        let from: Mailbox = DEFAULT_MAIL_FROM.parse().unwrap();
        assert_eq!(from.email.to_string(), "notices@sdv.localhost");
    }
}
