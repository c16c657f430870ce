//! The API's outgoing mail (U2): verification and password-reset links.
//!
//! - With `SMTP_URL`, mail goes through that server: lettre's async SMTP transport on tokio,
//!   TLS by rustls (`smtps://` implicit TLS, `?tls=required` STARTTLS), certificates checked
//!   against the platform's roots.
//! - Otherwise (development, tests) each mail is written to `MAILBOX_DIR` (default
//!   `.dev/mailbox/`) as an RFC 5322 `.eml` file named `<unix millis>-<uuid>.eml`; it is
//!   written under a temporary name and renamed, so a reader never sees half a mail.
//!
//! Handlers send with [`Mailer::send_in_background`]: the request never waits on the mail
//! server, and how long it takes never says whether a mail was sent (a reset request for an
//! unknown address answers exactly as one for a known address). A failed delivery is logged
//! and counted (`mail_failures_total`); the user asks again.

use std::{path::PathBuf, sync::Arc, time::SystemTime};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Body, Mailbox, header::ContentType},
};

use crate::config::MailSetting;

/// One plain-text mail.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// Why a mail could not be built or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid mail address {0:?}: {1}")]
    Address(String, #[source] lettre::address::AddressError),
    #[error("cannot build the mail: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("cannot write to the mailbox {dir}: {source}")]
    Mailbox {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Folder(PathBuf),
}

/// Sends the API's mail, through SMTP or into a folder.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl Mailer {
    /// The mailer `setting` names, sending as `from`.
    pub fn new(setting: &MailSetting, from: &str) -> Result<Self, MailError> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| MailError::Address(from.to_owned(), e))?;
        let transport = match setting {
            MailSetting::Smtp { url, timeout } => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(
                    secrecy::ExposeSecret::expose_secret(url),
                )?
                .timeout(Some(*timeout))
                .build(),
            ),
            MailSetting::Mailbox { dir } => Transport::Folder(dir.clone()),
        };
        Ok(Mailer { transport, from })
    }

    /// The mailbox folder, when mail goes to one.
    pub fn mailbox_dir(&self) -> Option<&std::path::Path> {
        match &self.transport {
            Transport::Folder(dir) => Some(dir),
            Transport::Smtp(_) => None,
        }
    }

    /// Sends `mail` now.
    #[tracing::instrument(skip_all, fields(subject = %mail.subject))]
    pub async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| MailError::Address(mail.to.clone(), e))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(plain_body(&mail.body))?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message).await?;
            }
            Transport::Folder(dir) => write_eml(dir, &message.formatted()).await?,
        }
        metrics::counter!("mail_sent_total").increment(1);
        Ok(())
    }

    /// Sends `mail` in a task of its own; a failure is logged and counted, not returned.
    pub fn send_in_background(self: &Arc<Self>, mail: Mail) {
        let mailer = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&mail).await {
                metrics::counter!("mail_failures_total").increment(1);
                tracing::error!(error = %e, subject = %mail.subject, "mail not delivered");
            }
        });
    }
}

/// CRLF line endings (RFC 5322); lettre picks the transfer encoding (7bit for short ASCII
/// lines, quoted-printable when a line, such as a link, is longer).
fn plain_body(text: &str) -> Body {
    Body::new(text.replace("\r\n", "\n").replace('\n', "\r\n"))
}

async fn write_eml(dir: &std::path::Path, bytes: &[u8]) -> Result<(), MailError> {
    let err = |source| MailError::Mailbox {
        dir: dir.to_owned(),
        source,
    };
    tokio::fs::create_dir_all(dir).await.map_err(err)?;
    let millis = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let name = format!("{millis}-{}", uuid::Uuid::new_v4());
    let tmp = dir.join(format!(".{name}.tmp"));
    tokio::fs::write(&tmp, bytes).await.map_err(err)?;
    tokio::fs::rename(&tmp, dir.join(format!("{name}.eml")))
        .await
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn u2_the_mailbox_folder_gets_one_eml_file_per_mail() {
        let dir = std::env::temp_dir().join(format!("posmul-mail-test-{}", uuid::Uuid::new_v4()));
        let mailer = Mailer::new(
            &MailSetting::Mailbox { dir: dir.clone() },
            "PosMul <no-reply@posmul.dev>",
        )
        .unwrap();
        mailer
            .send(&Mail {
                to: "alice@example.org".into(),
                subject: "Hello".into(),
                body: "token=abc_DEF-123\n".into(),
            })
            .await
            .unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(files[0].path()).unwrap();
        assert!(text.contains("To: alice@example.org"), "{text}");
        assert!(text.contains("token=abc_DEF-123"), "{text}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
